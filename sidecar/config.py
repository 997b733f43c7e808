"""Configuration: a YAML file, overridden by SIDECAR_* environment variables (pydantic-settings).

Secrets are given by reference, `env:NAME` or `file:/path` (a mounted Kubernetes secret), and
resolved once at load into SecretStr values, so no log line, error or `repr` can print them.
A connector with no accounts runs against the built-in sandbox: a new user needs nothing.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from sidecar.registry import REGISTRY
from sidecar.sandbox import SANDBOX_ACCOUNTS


def resolve_secret(value: str) -> str:
    """`env:NAME` and `file:/path` are references; anything else is the value itself."""
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    if value.startswith("file:"):
        path = Path(value[5:])
        try:
            return path.read_text().strip()
        except OSError as e:
            raise ValueError(f"cannot read secret file {path}: {e.strerror}") from None
    return value


_HOST_PORT = re.compile(r"(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?")


def host_port(entry: str) -> tuple[str, int]:
    """`host[:port]` (IPv6 in brackets) -> (host, port), port 443 when not given."""
    match = _HOST_PORT.fullmatch(entry)
    port = int(match["port"] or 443) if match else 0
    if not match or not 0 < port <= 65535:
        raise ValueError(f"{entry!r} is not host[:port]")
    return match["host"].strip("[]").lower(), port


def _resolve_if_str(value: Any) -> Any:
    """A reference resolved; in a list (secrets being rotated), each one."""
    if isinstance(value, list):
        return [_resolve_if_str(item) for item in value]
    return resolve_secret(value) if isinstance(value, str) else value


SecretRef = Annotated[SecretStr, BeforeValidator(_resolve_if_str)]


class _Section(BaseModel):
    # Frozen: configuration does not change while serving, and pool settings key the client cache.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listen(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class OpsSettings(_Section):
    """The ops listener: `/healthz`, `/readyz` and `/metrics` only, for kubelet probes and Prometheus,
    which reach a pod from its network: so, unlike the other listeners, it listens on every address."""

    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = Field(default=9090, ge=0, le=65535)
    max_open: int = Field(
        default=64,
        ge=1,
        description="Open connections to it; more are refused. Counted apart from client_connections.max_open, "
        "so that the pod network cannot take the apps' connections.",
    )


class ClientConnections(_Section):
    """Limits on the apps' connections to the canonical and forward-proxy listeners."""

    header_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a new connection has to send its first request head."
    )
    idle_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a kept-alive connection may wait, after an answer, for the next request head.",
    )
    max_open: int = Field(
        default=4096, ge=1, description="Open client connections over both listeners; more are refused."
    )


class ProxySettings(_Section):
    """Egress through an upstream proxy; `http` is used for http:// gateways, `https` for https:// ones."""

    http: str | None = None
    https: str | None = None
    username: str | None = None
    password: SecretRef | None = Field(default=None, description="Secret reference or value.")
    bypass: list[str] = Field(
        default_factory=list, description="Host names sent direct; `.example.com` matches subdomains."
    )

    @field_validator("http", "https")
    @classmethod
    def _proxy_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
            raise ValueError("must be http(s)://host:port")
        if parts.username or parts.password:
            raise ValueError("give proxy credentials as username and password, not in the URL")
        return url

    def url_for(self, scheme: str, host: str) -> str | None:
        """The proxy URL (with credentials) for a gateway URL, or None to go direct."""
        if any(host == b or (b.startswith(".") and host.endswith(b)) for b in self.bypass):
            return None
        proxy = self.https if scheme == "https" else self.http
        if proxy is None or self.username is None:
            return proxy
        scheme_, rest = proxy.split("://", 1)
        secret = self.password.get_secret_value() if self.password else ""
        return f"{scheme_}://{quote(self.username, safe='')}:{quote(secret, safe='')}@{rest}"


class Timeouts(_Section):
    connect: float = Field(default=5.0, gt=0, description="Seconds to open a connection (and its TLS).")
    read: float = Field(default=30.0, gt=0, description="Seconds to wait for each read of the answer.")
    total: float = Field(default=40.0, gt=0, description="Seconds for the whole gateway call.")

    @model_validator(mode="after")
    def _total_covers_parts(self) -> Timeouts:
        if self.total < self.connect:
            raise ValueError("total must be at least connect")
        return self


class PoolSettings(_Section):
    idle_timeout: float = Field(
        default=30.0, gt=0, description="Seconds an idle keep-alive connection is kept; keep it below the gateway's."
    )
    max_connections: int = Field(default=100, ge=1, description="Open connections per route, busy or idle.")
    wait_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a call may wait for a connection while all max_connections are busy; then it is "
        "answered gateway_unreachable, not sent. Apart from timeouts.connect, which bounds opening one.",
    )


class ClientCert(_Section):
    cert: Path = Field(description="PEM certificate chain for mTLS.")
    key: Path | None = Field(default=None, description="PEM private key, when not in the cert file.")

    @model_validator(mode="after")
    def _files_exist(self) -> ClientCert:
        for path in (self.cert, self.key):
            if path is not None and not path.is_file():
                raise ValueError(f"{path} is not a readable file")
        return self


class ForwardSettings(_Section):
    """How legacy apps' own calls to this gateway, through the forward proxy, are handled."""

    inject_credentials: bool | None = Field(
        default=None,
        description="Set the account's credentials on each call so apps hold none; "
        "by default on for sandbox connectors.",
    )
    account: str = Field(default="default", description="The account whose credentials are injected.")
    app_credentials: Literal["replace", "keep"] = Field(
        default="replace", description="When injecting: replace credentials the app sent, or keep them if present."
    )
    extra_hosts: list[str] = Field(
        default_factory=list,
        description="More of this gateway's HTTPS addresses to let through, `host[:port]` (port 443 by default); "
        "calls to them are sent to themselves.",
    )

    @field_validator("extra_hosts")
    @classmethod
    def _host_ports(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            host_port(entry)
        return entries

    @property
    def extra_addresses(self) -> list[tuple[str, int]]:
        return [host_port(entry) for entry in self.extra_hosts]


class ConnectorSettings(_Section):
    base_url: str | None = Field(
        default=None, description="The gateway's API base; the connector's own default when unset."
    )
    sandbox: bool | None = Field(
        default=None, description="Use the built-in sandbox; by default, when no accounts are given."
    )
    accounts: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Named credential sets; `default` is used when the call names none."
    )
    proxy: ProxySettings | None = None
    timeouts: Timeouts = Field(default_factory=Timeouts)
    pool: PoolSettings = Field(default_factory=PoolSettings)
    client_cert: ClientCert | None = None
    ca_bundle: Path | None = Field(default=None, description="Extra CA certificates to trust for this gateway.")
    forward: ForwardSettings = Field(default_factory=ForwardSettings)

    _credentials: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        return url.rstrip("/")

    @property
    def uses_sandbox(self) -> bool:
        return self.sandbox if self.sandbox is not None else not self.accounts

    @property
    def credentials(self) -> dict[str, Any]:
        """Account name -> the connector's validated Credentials model."""
        return self._credentials


class CASettings(_Section):
    dir: Path = Field(
        default_factory=lambda: Path.home() / ".payment-sidecar" / "ca",
        description="Where the CA is generated on first start (key file mode 0600).",
    )
    cert: Path | None = Field(default=None, description="Load the CA certificate from here instead (PEM).")
    key: Path | None = Field(default=None, description="... and its private key (PEM), if not in the cert file.")

    @field_validator("dir", "cert", "key")
    @classmethod
    def _home(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None

    @model_validator(mode="after")
    def _files_exist(self) -> CASettings:
        for path in (self.cert, self.key):
            if path is not None and not path.is_file():
                raise ValueError(f"{path} is not a readable file")
        if self.key is not None and self.cert is None:
            raise ValueError("a CA key needs its cert")
        return self


class ForwardProxySettings(_Section):
    """The HTTP proxy listener for legacy apps that call gateways' own APIs (HTTPS_PROXY)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=3128, ge=0, le=65535)
    ca: CASettings = Field(default_factory=CASettings)


class WebhookListen(Listen):
    host: str = "0.0.0.0"  # it faces the ingress
    port: int = Field(default=8090, ge=1, le=65535)


class WebhookSettings(_Section):
    """Gateways' webhooks: verified, translated and delivered to the app (API.md v1.1, "Webhooks")."""

    listen: WebhookListen | None = Field(
        default_factory=WebhookListen,
        description="The webhook listener, facing the ingress: only the webhook paths and /healthz; null for none "
        "(the canonical listener serves the same paths for local use).",
    )
    deliver_to: str = Field(description="The app's URL that each verified event is POSTed to.")
    deliver_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds the app has to answer 2xx for every event of a webhook; else the gateway gets 503 "
        "and sends it again. Keep it below the gateways' own timeouts (Adyen: 10 s).",
    )
    signing_secret: Annotated[list[SecretRef], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)] = Field(
        min_length=1,
        description="Signs each delivery (X-Sidecar-Signature); a list while rotating: one v1 per secret.",
    )

    @field_validator("deliver_to")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        return url


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class SandboxSettings(_Section):
    host: str = "127.0.0.1"
    stripe_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port.")
    adyen_port: int = Field(default=0, ge=0, le=65535)
    checkout_port: int = Field(default=0, ge=0, le=65535)
    paypal_port: int = Field(default=0, ge=0, le=65535)


class MaskingSettings(_Section):
    allow_personal: list[str] = Field(
        default_factory=list,
        description="Personal-data field names shown in logs and flows unmasked (e.g. email); none by default.",
    )


class WebSettings(_Section):
    """mitmweb, for people to inspect the traffic: it only ever holds masked copies."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535)
    password: SecretRef | None = Field(
        default=None, description="Required. A secret reference, a value, or an argon2 hash (starting with $)."
    )
    max_flows: int = Field(default=1000, ge=1, description="Flows kept for inspection; the oldest go first.")
    allowed_hosts: list[str] | None = Field(
        default=None,
        description="Host header names (any port) mitmweb answers; others are refused, against DNS rebinding. "
        "Default: the web host, localhost and 127.0.0.1, so `kubectl port-forward` works.",
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str] | None) -> list[str] | None:
        if hosts is None:
            return None
        names = []
        for host in hosts:
            name = host.strip().lower().removeprefix("[").removesuffix("]")
            if not name or any(c in name for c in "/@ \t") or (":" in name and not _is_ipv6(name)):
                raise ValueError(f"{host!r} is not a host name: give names like sidecar.example or 10.0.0.5, no port")
            names.append(name)
        return names

    @property
    def allowed_host_names(self) -> list[str]:
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        return [self.host.lower(), "localhost", "127.0.0.1"]

    @model_validator(mode="after")
    def _password_required(self) -> WebSettings:
        if self.enabled and not (self.password and self.password.get_secret_value()):
            raise ValueError("mitmweb needs a password: it shows every payment call, if masked")
        return self


def _is_ipv6(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).version == 6
    except ValueError:
        return False


def _default_connectors() -> dict[str, ConnectorSettings]:
    return {name: ConnectorSettings() for name in REGISTRY if name in SANDBOX_ACCOUNTS}


_UNKNOWN_CONNECTOR = f"no such connector (known: {', '.join(sorted(REGISTRY))})"


def _account_problems(name: str, conn: ConnectorSettings) -> list[InitErrorDetails]:
    """Resolves each account's secrets and validates it; keeps the valid ones on the connector."""
    problems = []
    if conn.sandbox and conn.accounts:
        problems.append(_problem((name,), "a sandbox connector takes no accounts"))
    elif conn.uses_sandbox and name not in SANDBOX_ACCOUNTS:
        problems.append(_problem((name,), "the built-in sandbox has no simulator of this gateway: give it accounts"))
    for account, raw in conn.accounts.items():
        where = (name, "accounts", account)
        resolved, missing = {}, []
        for key, value in raw.items():
            try:
                resolved[key] = _resolve_if_str(value)
            except ValueError as e:
                missing.append(_problem((*where, key), str(e)))
        if missing:  # a missing secret would only repeat itself as "field required"
            problems += missing
            continue
        try:
            conn._credentials[account] = REGISTRY[name].Credentials.model_validate(resolved)
        except ValidationError as e:
            problems += _problems(e, where)
    return problems


def _problem(loc: tuple[str | int, ...], message: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("config", message), loc=loc, input=None)


def _problems(e: ValidationError, where: tuple[str | int, ...] = ()) -> list[InitErrorDetails]:
    """A ValidationError's errors, to be raised again with others; the messages as they were, the inputs left out."""
    return [
        _problem((*where, *err["loc"]), err["msg"])
        for err in e.errors(include_url=False, include_input=False, include_context=False)
    ]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIDECAR_", env_nested_delimiter="__", extra="forbid")

    listen: Listen = Field(default_factory=Listen)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    client_connections: ClientConnections = Field(default_factory=ClientConnections)
    allow_request_credentials: bool = Field(default=False, description="Accept X-Connector-Auth per call.")
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    drain_seconds: float = Field(
        default=15.0, ge=0, description="On SIGTERM or SIGINT, how long in-flight calls may finish."
    )
    forward_proxy: ForwardProxySettings = Field(default_factory=ForwardProxySettings)
    log: LogSettings = Field(default_factory=LogSettings)
    masking: MaskingSettings = Field(default_factory=MaskingSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    save_flows: Path | None = Field(default=None, description="Append masked copies of every flow to this file.")
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    webhooks: WebhookSettings | None = Field(
        default=None,
        description="The webhook listener and delivery to the app. Without it, the canonical listener's webhook "
        "paths answer with the verified, translated events themselves.",
    )
    connectors: dict[str, ConnectorSettings] = Field(default_factory=_default_connectors)
    # After `connectors`, which its check reads.
    default_connector: str | None = None

    _yaml_data: ClassVar[dict[str, Any] | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if cls._yaml_data is not None:
            sources += (InitSettingsSource(settings_cls, cls._yaml_data),)
        return sources

    @field_validator("connectors", mode="wrap")
    @classmethod
    def _checked_connectors(cls, raw: Any, handler: ValidatorFunctionWrapHandler) -> dict[str, ConnectorSettings]:
        """Unknown connector names and each account's problems (its secrets resolved, then validated
        against its connector's Credentials model), reported with the connectors' other errors and,
        this being a field's validator, with every other field's."""
        problems = (
            [_problem((name,), _UNKNOWN_CONNECTOR) for name in raw if name not in REGISTRY]
            if isinstance(raw, dict)
            else []
        )
        try:
            connectors: dict[str, ConnectorSettings] = handler(raw)
        except ValidationError as e:  # accounts are checked once the connectors are well-formed
            raise ValidationError.from_exception_data("connectors", problems + _problems(e)) from None
        for name, conn in connectors.items():
            if name in REGISTRY:
                problems += _account_problems(name, conn)
        if problems:
            raise ValidationError.from_exception_data("connectors", problems)
        return connectors

    @field_validator("default_connector")
    @classmethod
    def _default_is_configured(cls, name: str | None, info: ValidationInfo) -> str | None:
        connectors = info.data.get("connectors")  # absent when the connectors themselves are invalid
        if name is not None and connectors is not None and name not in connectors:
            raise ValueError(f"{name!r} is not a configured connector")
        return name


class ConfigError(Exception):
    """Every bad field of a configuration, one per line, with no values in them."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_settings(path: Path | None = None) -> Settings:
    Settings._yaml_data = _read_yaml(path) if path is not None else None
    try:
        return Settings()
    except ValidationError as e:
        raise ConfigError(_error_lines(e)) from None
    finally:
        Settings._yaml_data = None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e.strerror}"]) from None
    except yaml.MarkedYAMLError as e:
        raise ConfigError([_yaml_error_line(path, e)]) from None
    except yaml.YAMLError as e:  # no position known
        raise ConfigError([f"{path}: YAML syntax error: {type(e).__name__}"]) from None
    if data is None:  # an empty file: every default
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of settings, not a {type(data).__name__}"])
    return data


def _yaml_error_line(path: Path, e: yaml.MarkedYAMLError) -> str:
    """`file:line:column: YAML syntax error: problem`. Only PyYAML's descriptions and positions:
    its str() quotes the offending line, which may hold a secret."""
    mark = e.problem_mark or e.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    line = f"{where}: YAML syntax error: {e.problem or e.context}"
    if e.problem and e.context:
        started = (
            f" started at line {e.context_mark.line + 1}, column {e.context_mark.column + 1}" if e.context_mark else ""
        )
        line += f" ({e.context}{started})"
    return line


def _error_lines(exc: ValidationError) -> list[str]:
    """`loc: reason` lines. Pydantic's own str() would print the rejected input: it may be a secret."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
    return lines
