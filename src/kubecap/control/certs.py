"""The webhook's own small PKI: a CA, a serving certificate it signs, and when to renew them.

kube-apiserver calls the webhook over TLS and trusts the ``caBundle`` of the
MutatingWebhookConfiguration, so ``kubecap webhook install`` makes a CA (10 years) and a
serving certificate for the Service's DNS names (1 year), with ECDSA P-256 keys. Renewing
the serving certificate keeps the CA, so the caBundle does not change; renewing the CA
keeps the old one in the bundle until it expires, so no call fails during the switch.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubecap.errors import ConfigError

BACKDATE = timedelta(minutes=5)
"""Certificates start a little in the past: clocks of nodes and apiservers drift."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A certificate and its private key, PEM-encoded."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(common_name: str, now: datetime, days: int) -> KeyPair:
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _pem(key))


def service_names(service: str, namespace: str) -> list[str]:
    """The DNS names the apiserver may use for a Service."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def make_serving(ca: KeyPair, hosts: list[str], now: datetime, days: int) -> KeyPair:
    """A serving certificate for ``hosts`` (DNS names or IP addresses) signed by ``ca``."""
    if not hosts:
        raise ConfigError("a serving certificate needs at least one host name: give the service or --host")
    ca_cert = ca.certificate
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ConfigError("the webhook CA key is not an ECDSA key: delete the CA secret and install again")
    key = _key()
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    not_after = min(now + timedelta(days=days), ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _pem(key))


def needs_renewal(pair: KeyPair | None, now: datetime, before: timedelta) -> bool:
    """True when there is no certificate, it does not parse, or it expires within ``before``."""
    if pair is None:
        return True
    try:
        return pair.not_after - before <= now
    except ValueError:
        return True


def covers(pair: KeyPair, hosts: list[str]) -> bool:
    """True when the certificate names every one of ``hosts``."""
    try:
        names = pair.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    present = {str(n) for n in names.get_values_for_type(x509.DNSName)} | {
        str(a) for a in names.get_values_for_type(x509.IPAddress)
    }
    return set(hosts) <= present


def signed_by(pair: KeyPair, ca: KeyPair) -> bool:
    try:
        pair.certificate.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def bundle(now: datetime, *pems: bytes) -> bytes:
    """CA certificates concatenated (the caBundle), skipping expired and repeated ones."""
    seen: list[bytes] = []
    for pem in pems:
        for cert in x509.load_pem_x509_certificates(pem) if pem else []:
            encoded = cert.public_bytes(serialization.Encoding.PEM)
            if cert.not_valid_after_utc > now and encoded not in seen:
                seen.append(encoded)
    return b"".join(seen)
