"""addons/tls.py: mitmproxy's CA revocation list is still served where mitmproxy serves it, and
nothing else is answered by the TLS addon."""

from __future__ import annotations

from mitmproxy.test import taddons, tflow

from addons.tls import TlsConfig


def test_the_ca_revocation_list_is_served_and_other_paths_are_left_alone(tmp_path) -> None:
    tls = TlsConfig()
    with taddons.context(tls) as tctx:
        tctx.configure(tls, confdir=str(tmp_path))
        crl = tflow.tflow()
        crl.request.path = tls.crl_path()
        tls.request(crl)
        assert crl.response is not None and crl.response.status_code == 200
        assert crl.response.headers["Content-Type"] == "application/pkix-crl"
        assert crl.response.content == tls.certstore.default_crl

        for path in ("/v1/payments", "/other.crl", tls.crl_path() + "?x=1"):
            flow = tflow.tflow()
            flow.request.path = path
            tls.request(flow)
            assert flow.response is None, path
