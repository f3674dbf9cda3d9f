"""The API server's serving certificate chain, as read in a TLS handshake and kept in dumps."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServingCertificate:
    """The chain an API server presented (PEM, leaf first) and the server it was read from."""

    server: str
    chain: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"server": self.server, "chain": list(self.chain)}

    @classmethod
    def from_dict(cls, data: dict) -> "ServingCertificate":
        return cls(data["server"], tuple(data["chain"]))
