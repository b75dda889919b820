"""DKIM signing, fast: dkimpy parses and canonicalises headers, hashlib hashes, OpenSSL
(cryptography) signs.

dkimpy's own RSA is pure-Python `pow` (about 180 signatures a second a core here); the
same signature through OpenSSL is an order of magnitude faster and verifies identically
with `dkim.verify`. rsa-sha256 always; ed25519-sha256 (RFC 8463) as an optional second
signature. The `t=` tag comes from an injected clock. A signer parses and canonicalises each
distinct header field once, hashes the body prefix a send's messages share once, and folds
each key's signature header once per second (a template with bh= and b= open), so across a
send only what differs per recipient costs anything; the signatures are byte for byte what
dkimpy's own steps give. A send's messages, built from a prepared message, are signed from
its signing plan instead (publisher.mail.dkim_prepared), which uses this module's parsing
and templates; this signer is the general path, for any message.

dkimpy is imported on first use, not with this module: a process that never signs (a sender
of a site without DKIM keys) does not load it, nor the DNS resolver it brings.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from publisher.config import Config, Secrets, line_of_key
from publisher.errors import ConfigError, Problem

if TYPE_CHECKING:
    from dkim.canonicalization import CanonicalizationPolicy

SIGNED_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
    b"list-id", b"list-unsubscribe", b"list-unsubscribe-post", b"reply-to",
    b"content-language",
)
CANONICALIZATION = (b"relaxed", b"simple")  # simple body: cheap on large bodies, QP-safe
DNS_STRING = 255  # octets in one character-string of a TXT record (RFC 1035 3.3)
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
Signer = Callable[[bytes], bytes]  # message bytes -> DKIM-Signature headers (+ the message)


@dataclass(frozen=True)
class DkimKey:
    """A selector, a domain and a private key (RSA >= 2048 bits, or Ed25519).

    `pem` is the key as it was read (file or environment), so it travels to worker
    processes as those bytes; only a key made in this process (`generate`) is encoded.
    """

    selector: str
    domain: str
    key: PrivateKey
    pem: bytes = field(default=b"", repr=False)  # a secret: never in logs or tracebacks

    def __post_init__(self) -> None:
        if not self.pem:
            object.__setattr__(self, "pem", _pem(self.key))

    @property
    def algorithm(self) -> bytes:
        return b"rsa-sha256" if isinstance(self.key, rsa.RSAPrivateKey) else b"ed25519-sha256"

    def dns_record(self) -> str:
        """The TXT record to publish at <selector>._domainkey.<domain>."""
        return dns_record(self.key)

    def zone_line(self) -> str:
        """The whole record as a zone-file line, for copying into DNS."""
        return zone_line(self.selector, self.domain, self.key)


def dns_record(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"


def zone_line(selector: str, domain: str, key: PrivateKey) -> str:
    """`<selector>._domainkey.<domain>. IN TXT ( "…" "…" )`: the record split into strings of
    at most DNS_STRING characters (a 2048-bit RSA record does not fit in one); receivers
    join them with nothing in between."""
    record = dns_record(key)
    strings = [record[i:i + DNS_STRING] for i in range(0, len(record), DNS_STRING)]
    quoted = " ".join(f'"{text}"' for text in strings)  # no quote or backslash to escape
    return f"{selector}._domainkey.{domain}. IN TXT ( {quoted} )"


def load_key(pem: bytes, selector: str, domain: str, source: str) -> DkimKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: not a PEM private key ({exc})") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ConfigError(f"{source}: RSA key has {key.key_size} bits; 2048 or more needed")
    elif not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"{source}: only RSA and Ed25519 keys are supported")
    return DkimKey(selector, domain, key, pem)


def keys_from_config(config: Config, secrets: Secrets) -> list[DkimKey]:
    """The configured keys: RSA (file or PUBLISHER_DKIM_PRIVATE_KEY), then optional Ed25519."""
    settings = config.settings.dkim
    if not settings.selector or not settings.domain:
        return []
    keys = []
    if settings.key_path:
        path = config.path(settings.key_path)
        pem = _read_key_file(config, "key_path", path)
        keys.append(load_key(pem, settings.selector, settings.domain, str(path)))
    elif secrets.dkim_private_key:
        keys.append(load_key(secrets.dkim_private_key.encode(), settings.selector,
                             settings.domain, "PUBLISHER_DKIM_PRIVATE_KEY"))
    if settings.ed25519_key_path:
        path = config.path(settings.ed25519_key_path)
        selector = settings.ed25519_selector or settings.selector
        pem = _read_key_file(config, "ed25519_key_path", path)
        keys.append(load_key(pem, selector, settings.domain, str(path)))
    return keys


def _read_key_file(config: Config, key: str, path: Path) -> bytes:
    """The file named by `dkim.<key>`, or a ConfigError at that key's line of publisher.toml."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        message = "does not exist"
    except OSError as exc:
        message = f"cannot be read ({exc.strerror})"
    raise ConfigError(_located(config, "dkim", key, f"{message} ({path})"))


def _located(config: Config, section: str, key: str, message: str) -> str:
    """`<config file>:<line>: <section>.<key>: <message>`; just the key without a file."""
    if config.file is None:
        return f"{section}.{key}: {message}"
    try:
        line = line_of_key(config.file.read_text(encoding="utf-8"), section, key)
    except OSError:
        return f"{section}.{key}: {message}"
    return str(Problem(config.file, line, f"{section}.{key}", message))


def _raw_signature(key: PrivateKey, digest: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    return key.sign(digest)


@cache
def canonicalization() -> CanonicalizationPolicy:
    """dkimpy's relaxed/simple policy (dkimpy loaded here, on first use)."""
    from dkim.canonicalization import CanonicalizationPolicy

    return CanonicalizationPolicy.from_c_value(b"/".join(CANONICALIZATION))


Field = tuple[bytes, bytes]  # a header field's name and value, as dkimpy parses them
FIELD_CACHE = 4096  # parsed header fields kept per signer; cleared when full
SHARED_PREFIX = 4096  # body octets worth hashing once and reusing (see _BodyHashes)
_FIELD_NAME = re.compile(rb"[\x21-\x7e]+")  # what dkim.rfc822_parse takes as a name
_WSP = re.compile(rb"[\t ]+")
BODY_HASH_LENGTH = 44  # base64 of a sha256 digest


@dataclass(frozen=True)
class Parsed:
    include: tuple[bytes, ...]  # the SIGNED_HEADERS present, in that order
    signed_fields: bytes  # each included field, relaxed (the last of its name), joined
    body_hash: bytes


class _Fields:
    """Header fields parsed and canonicalised once per distinct field.

    Every recipient of a send has the same From, Subject, Date, Content-Type…; only a few
    fields (To, Message-ID, List-Unsubscribe) differ, and those take the direct path of
    `_field`. The cache is cleared when full, so the per-recipient fields never make it
    grow without bound."""

    def __init__(self) -> None:
        self._known: dict[bytes, tuple[list[Field], list[Field]]] = {}

    def parse(self, block: bytes) -> tuple[list[Field], list[Field]]:
        """The fields of a header block (CRLF lines, ending with CRLF), raw and relaxed."""
        if block.count(b"\n") != block.count(b"\r\n"):  # bare LF: dkimpy's own split
            import dkim

            headers = [(n, v) for n, v in dkim.rfc822_parse(block + b"\r\n")[0]]
            return headers, canonicalization().canonicalize_headers(headers)
        raw: list[Field] = []
        relaxed: list[Field] = []
        for field_bytes in _field_lines(block):
            known = self._known.get(field_bytes)
            if known is None:
                if len(self._known) >= FIELD_CACHE:
                    self._known.clear()
                known = self._known[field_bytes] = parse_field(field_bytes)
            raw += known[0]
            relaxed += known[1]
        return raw, relaxed


def parse_field(field_bytes: bytes) -> tuple[list[Field], list[Field]]:
    """One field (no bare LF) as dkim.rfc822_parse and relaxed canonicalisation give it.

    A well-formed field is cut at its first colon without dkimpy's per-call regexes:
    rfc822_parse's value is the rest plus CRLF, and relaxed unfolds it (drops each CRLF;
    there is no bare LF), turns runs of WSP into one space and strips it. Anything else
    (no colon, a name with other octets) goes through dkimpy, errors included."""
    name, colon, rest = field_bytes.partition(b":")
    if not colon or _FIELD_NAME.fullmatch(name) is None:
        import dkim

        parsed = [(n, v) for n, v in dkim.rfc822_parse(field_bytes + b"\r\n\r\n")[0]]
        return parsed, canonicalization().canonicalize_headers(parsed)
    value = rest.replace(b"\r\n", b"")
    if b"\t" in value or b"  " in value:
        value = _WSP.sub(b" ", value)
    return [(name, rest + b"\r\n")], [(name.lower(), value.strip() + b"\r\n")]


def _field_lines(block: bytes) -> list[bytes]:
    """Header fields with their continuation lines, as dkimpy groups them."""
    fields: list[bytes] = []
    for line in block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        elif line:
            fields.append(line)
    return fields


class _BodyHashes:
    """sha256 of bodies that mostly begin alike, the shared beginning hashed once.

    A send's bodies are the same up to the first personal value in the text part (a third
    of the seed edition); the hash state after that prefix is copied for each body that
    starts with it. The prefix is learnt from two bodies in a row and relearnt when a body
    does not start with it; the digest is always sha256 of the whole body."""

    def __init__(self) -> None:
        self._prefix = b""  # the learnt prefix, or the last body while learning
        self._state: hashlib._Hash | None = None  # sha256 of _prefix once learnt

    def digest(self, body: bytes, start: int) -> bytes:
        """sha256 of body[start:]."""
        prefix, state = self._prefix, self._state
        if state is not None and body.startswith(prefix, start):
            hasher = state.copy()
            hasher.update(memoryview(body)[start + len(prefix):])
            return hasher.digest()
        common = _common_length(prefix, body, start)
        if common >= SHARED_PREFIX:
            self._prefix = body[start:start + common]
            self._state = hashlib.sha256(self._prefix)
            return self.digest(body, start)
        self._prefix, self._state = body[start:], None
        return hashlib.sha256(self._prefix).digest()


def _common_length(prefix: bytes, body: bytes, start: int) -> int:
    """How many octets body[start:] shares with the beginning of prefix."""
    limit = min(len(prefix), len(body) - start)
    length = 0
    while length + SHARED_PREFIX <= limit and body.startswith(
            prefix[length:length + SHARED_PREFIX], start + length):
        length += SHARED_PREFIX
    while length < limit and body[start + length] == prefix[length]:
        length += 1
    return length


def _parse(message: bytes, fields: _Fields | None = None,
           bodies: _BodyHashes | None = None) -> Parsed:
    """Headers parsed, body hashed once; only the header block is parsed (splitting a large
    body into lines is what made signing slow), and the body is hashed in place."""
    end = message.find(b"\r\n\r\n")
    if end < 0:
        raise ValueError("message has no header/body separator")
    headers, relaxed = (fields or _Fields()).parse(message[: end + 2])
    body, start = message, end + 4
    if not message.endswith(b"\r\n", start) or message.endswith(b"\r\n\r\n", start):
        # else simple is the body as it is
        body, start = canonicalization().canonicalize_body(message[start:]), 0
    present = {name.lower() for name, _ in headers}
    include = tuple(h for h in SIGNED_HEADERS if h in present)
    canonical = dict(relaxed)  # the last field of a name wins
    return Parsed(include=include,
                   signed_fields=b"".join([name + b":" + canonical[name] for name in include]),
                   body_hash=base64.b64encode((bodies or _BodyHashes()).digest(body, start)))


class _Template:
    """One key's DKIM-Signature for one `t=` and one list of signed fields, with the body
    hash (bh=) and the signature (b=) left open.

    dkim.fold breaks lines only at spaces and at fixed lengths, and relaxed
    canonicalisation changes only whitespace; base64 values of a fixed length have no
    whitespace, so the folded header and its hashed form are the same around any such
    values. The template is made with two different fillers and the octets where they
    differ are the open positions (checked to be exactly the values' lengths), so each
    signature is a join of fixed pieces with slices of bh and b."""

    def __init__(self, key: DkimKey, timestamp: int, include: tuple[bytes, ...],
                 signature_length: int) -> None:
        self.signature_length = signature_length
        forms = [_filled(key, timestamp, include, filler * BODY_HASH_LENGTH,
                         filler * signature_length) for filler in (b"A", b"B")]
        hashed = _open_runs(forms[0][0], forms[1][0], BODY_HASH_LENGTH)
        if len(hashed) != 1:
            raise RuntimeError("DKIM template: body hash not in one piece")
        self.hashed = (forms[0][0][: hashed[0][0]], forms[0][0][hashed[0][1]:])
        self.folded: list[tuple[bytes, int, int]] = []  # fixed piece, then values[a:b]
        done = taken = 0
        for start, end in _open_runs(forms[0][1], forms[1][1],
                                     BODY_HASH_LENGTH + signature_length):
            self.folded.append((forms[0][1][done:start], taken, taken + end - start))
            done, taken = end, taken + end - start
        self.tail = forms[0][1][done:]

    def header(self, key: DkimKey, signed_fields: bytes, body_hash: bytes) -> bytes:
        # What dkim.hash_headers hashes: each signed field (the last of its name, relaxed),
        # then this signature header with b= empty and without its final CRLF.
        hashed = (signed_fields, self.hashed[0], body_hash, self.hashed[1])
        signature = base64.b64encode(
            _raw_signature(key.key, hashlib.sha256(b"".join(hashed)).digest()))
        if len(signature) != self.signature_length or len(body_hash) != BODY_HASH_LENGTH:
            raise RuntimeError("DKIM template: unexpected value length")
        values = body_hash + signature
        pieces = [piece for fixed, start, end in self.folded
                  for piece in (fixed, values[start:end])]
        return b"".join(pieces) + self.tail


def _filled(key: DkimKey, timestamp: int, include: tuple[bytes, ...], body_hash: bytes,
            signature: bytes) -> tuple[bytes, bytes]:
    """The signature header as hashed (relaxed, b= empty, no final CRLF) and as written
    (folded, CRLF-terminated), for these bh= and b= values: dkimpy's own steps."""
    import dkim

    domain = key.domain.encode()
    fields = [(b"v", b"1"), (b"a", key.algorithm), (b"c", b"/".join(CANONICALIZATION)),
              (b"d", domain), (b"i", b"@" + domain), (b"q", b"dns/txt"),
              (b"s", key.selector.encode()), (b"t", str(timestamp).encode()),
              (b"h", b" : ".join(include)), (b"bh", body_hash), (b"b", b"0" * 60)]
    value = dkim.fold(b"; ".join(b"=".join(f) for f in fields), namelen=len(b"DKIM-Signature"),
                      linesep=b"\r\n")
    value = dkim.RE_BTAG.sub(b"\\1", value)
    ((name, signed_value),) = canonicalization().canonicalize_headers(
        [(b"DKIM-Signature", b" " + value)])
    fields[-1] = (b"b", signature)
    signed = b"; ".join(b"=".join(f) for f in fields) + b"\r\n"
    folded: bytes = dkim.fold(signed, namelen=len(b"DKIM-Signature"), linesep=b"\r\n")
    return name + b":" + signed_value.rstrip(), b"DKIM-Signature: " + folded


def _open_runs(first: bytes, second: bytes, expected: int) -> list[tuple[int, int]]:
    """The [start, end) runs where two fillings differ; they must cover `expected` octets."""
    if len(first) != len(second):
        raise RuntimeError("DKIM template: fillers changed the layout")
    runs: list[tuple[int, int]] = []
    for index, (a, b) in enumerate(zip(first, second, strict=True)):
        if a == b:
            continue
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    if sum(end - start for start, end in runs) != expected:
        raise RuntimeError("DKIM template: fillers changed the layout")
    return runs


class KeySignatures:
    """One key's signatures, from a template kept for the current `t=` and signed fields."""

    def __init__(self, key: DkimKey) -> None:
        self.key = key
        octets = (key.key.key_size + 7) // 8 if isinstance(key.key, rsa.RSAPrivateKey) else 64
        self._length = (octets + 2) // 3 * 4  # base64 of the raw signature
        self._template: tuple[int, tuple[bytes, ...], _Template] | None = None

    def header(self, parsed: Parsed, timestamp: int) -> bytes:
        kept = self._template
        if kept is None or kept[0] != timestamp or kept[1] != parsed.include:
            kept = (timestamp, parsed.include,
                    _Template(self.key, timestamp, parsed.include, self._length))
            self._template = kept
        return kept[2].header(self.key, parsed.signed_fields, parsed.body_hash)


def make_header_signer(keys: list[DkimKey], clock: Callable[[], datetime]) -> Signer:
    """bytes -> every key's DKIM-Signature header (RSA first, as configured), to go in
    front of the message. Keeps the header fields it has parsed (see _Fields), the body
    prefix it has hashed (_BodyHashes) and each key's template (_Template)."""
    fields, bodies = _Fields(), _BodyHashes()
    signatures = [KeySignatures(key) for key in keys]

    def sign(message: bytes) -> bytes:
        timestamp = int(clock().timestamp())
        parsed = _parse(message, fields, bodies)
        return b"".join(each.header(parsed, timestamp) for each in signatures)

    return sign


def make_signer(keys: list[DkimKey], clock: Callable[[], datetime]) -> Signer:
    """bytes -> bytes with every key's signature prepended (RSA first, as configured)."""
    headers = make_header_signer(keys, clock)

    def sign(message: bytes) -> bytes:
        return headers(message) + message

    return sign


def generate(kind: str = "rsa", bits: int = 2048) -> PrivateKey:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_key(key: PrivateKey, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_pem(key))
    path.chmod(0o600)
