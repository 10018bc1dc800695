"""The download stage: fetch with resume, retries and checksums; then bgzip/faidx the reference, tabix the VCFs.

`fetch` never leaves a partial or unverified file under its final name: bytes go to `<dest>.part` (kept
between attempts so that an HTTP Range request resumes it), are checked against the known MD5/SHA-256, and
only then renamed onto `dest`. A checksum mismatch removes the bad bytes and raises naming the URL, the
expected and the actual digest. With no known checksum, the SHA-256 is recorded in `<dest>.sha256`.
"""

import gzip
import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CHUNK = 1 << 20
LOG_EVERY = 1 << 30
USER_AGENT = "hapexpr-download/0.1 (+https://github.com/snakemake-workflows)"
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


class DownloadError(RuntimeError):
    """A download that failed for good (after its retries, or at once for a 4xx answer)."""


class ChecksumError(DownloadError):
    """The bytes arrived but their digest is not the expected one."""


class PrepareError(ValueError):
    """A file that cannot be compressed or indexed (not bgzip-compressed, unsorted): the message says what to do."""


@dataclass(frozen=True)
class Digests:
    md5: str
    sha256: str


class _Retryable(Exception):
    """An attempt that failed in a way worth retrying (5xx, connection lost, stall, short body)."""


# --------------------------------------------------------------------------------------------- fetch


def is_local(url: str) -> bool:
    """file:// URLs and plain paths are copied, not downloaded."""
    scheme = urllib.parse.urlparse(url).scheme
    return scheme in ("", "file") or len(scheme) == 1  # a one-letter scheme is a Windows drive


def local_path(url: str) -> Path:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    return Path(url)


def file_digests(path: str | os.PathLike) -> Digests:
    """MD5 and SHA-256 of a file in one pass."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return Digests(md5.hexdigest(), sha.hexdigest())


def verify(path: Path, url: str, md5: str | None, sha256: str | None) -> Digests:
    """Digests of `path`; a mismatch with a known checksum removes `path` and raises ChecksumError."""
    got = file_digests(path)
    for kind, expected, actual in (("md5", md5, got.md5), ("sha256", sha256, got.sha256)):
        if expected and expected.lower() != actual:
            path.unlink(missing_ok=True)
            raise ChecksumError(
                f"{url}: {kind} mismatch: expected {expected.lower()}, got {actual}. The bad download was removed; "
                f"rerun to fetch it again, or fix the checksum in the config if the source has changed."
            )
    return got


def write_sha256_sidecar(dest: str | os.PathLike, sha256: str, source_name: str) -> Path:
    """Record the SHA-256 of what was downloaded beside `dest` (sha256sum format, named after the source file)."""
    sidecar = Path(f"{dest}.sha256")
    sidecar.write_text(f"{sha256}  {source_name}\n")
    return sidecar


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": USER_AGENT}
    if offset and url.lower().startswith(("http://", "https://")):
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _attempt(url: str, part: Path, timeout: float) -> None:
    """One try: append to `part` from where it stops (HTTP Range) or restart it.

    Raises _Retryable on transient faults (5xx, connection lost, stall, short body), DownloadError on others.
    """
    offset = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, offset, timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            # Range not satisfiable: the .part is already whole (or longer than the file): check it, else restart.
            total = (err.headers.get("Content-Range") or "").rpartition("/")[2]
            if total.isdigit() and int(total) == offset:
                return
            part.unlink()
            raise _Retryable(f"HTTP 416 for a resume at byte {offset}; restarting from zero") from err
        if err.code >= 500 or err.code in (408, 429):
            raise _Retryable(f"HTTP {err.code} {err.reason}") from err
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}; check the URL in the config") from err
    except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, FileNotFoundError) or "550" in str(reason):
            raise DownloadError(f"{url}: not found ({reason}); check the URL in the config") from err
        raise _Retryable(f"cannot connect: {reason}") from err
    with resp:
        status = getattr(resp, "status", None)
        start = (resp.headers.get("Content-Range") or "").removeprefix("bytes ").partition("-")[0]
        resumed = bool(offset) and status == 206 and start == str(offset)
        if offset and not resumed:
            log.info("%s: the server ignored the range request; restarting from zero", url)
            offset = 0
        length = resp.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        received = 0
        read = getattr(resp, "read1", resp.read)  # read1: whatever has arrived, so a stall keeps what came before it
        try:
            with open(part, "ab" if resumed else "wb") as out:
                while chunk := read(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    if received % LOG_EVERY < len(chunk):
                        log.info("%s: %.1f GiB received", url, (offset + received) / 2**30)
        except (ConnectionError, TimeoutError, socket.timeout, http.client.HTTPException) as err:
            raise _Retryable(f"transfer interrupted after {offset + received} bytes: {err!r}") from err
        if expected is not None and received < expected:
            raise _Retryable(f"body cut short: {received} of {expected} bytes after byte {offset}")


def fetch(
    url: str,
    dest: str | os.PathLike,
    md5: str | None = None,
    sha256: str | None = None,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 2.0,
    record_sha256: bool = True,
) -> Digests:
    """Download (or copy) `url` to `dest`, resuming `<dest>.part`, retrying transient faults, verifying checksums.

    Retries with exponential backoff (`backoff` * 2**attempt seconds, at most 5 minutes) on 5xx answers,
    connection errors, stalls longer than `timeout` seconds and bodies cut short; a 4xx answer fails at once.
    When neither `md5` nor `sha256` is given and `record_sha256` is set, `<dest>.sha256` records the digest.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if is_local(url):
        src = local_path(url)
        if not src.is_file():
            raise DownloadError(f"{url}: no such local file ({src}); check the path in the config")
        shutil.copyfile(src, part)
    else:
        scheme = urllib.parse.urlparse(url).scheme.lower()
        if scheme not in ("http", "https", "ftp"):
            raise DownloadError(
                f"{url}: unsupported scheme {scheme!r}; use http(s)://, ftp://, file:// or a local path"
            )
        last = ""
        for attempt in range(retries + 1):
            if attempt:
                wait = min(backoff * 2 ** (attempt - 1), 300.0)
                log.warning("%s: attempt %d failed (%s); retrying in %.1f s", url, attempt, last, wait)
                time.sleep(wait)
            try:
                _attempt(url, part, timeout)
                break
            except _Retryable as err:
                last = str(err)
        else:
            raise DownloadError(
                f"{url}: failed after {retries + 1} attempts (last: {last}). The partial download is kept in "
                f"{part} and a rerun resumes it; check the network or the URL."
            )
    digests = verify(part, url, md5, sha256)
    os.replace(part, dest)
    log.info("%s -> %s (md5 %s, sha256 %s)", url, dest, digests.md5, digests.sha256)
    if record_sha256 and not (md5 or sha256):
        write_sha256_sidecar(dest, digests.sha256, _source_name(url))
    return digests


def _source_name(url: str) -> str:
    return Path(urllib.parse.urlparse(url).path).name or url


# ------------------------------------------------------------------------------------------ manifest


def read_manifest(path: str | os.PathLike) -> dict[str, str]:
    """File name -> MD5 of a checksum manifest such as 1000 Genomes' 20220804_manifest.txt.

    Each line holds a file name (possibly with a leading `./` or a directory) and its MD5, in either order,
    separated by tabs or spaces; names are keyed by their base name.
    """
    entries: dict[str, str] = {}
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            sums = [f for f in fields if _MD5.match(f)]
            names = [f for f in fields if not _MD5.match(f) and not f.isdigit()]
            if len(sums) != 1 or len(names) != 1:
                raise ValueError(
                    f"{path}, line {lineno}: expected a file name and one MD5, found {fields!r}; "
                    f"is this the manifest the config names in sources.vcf.manifest?"
                )
            entries[Path(names[0]).name] = sums[0].lower()
    return entries


def manifest_md5(path: str | os.PathLike, name: str) -> str:
    """The MD5 that the manifest gives for file `name` (a base name or a URL)."""
    base = _source_name(name) if "/" in name else name
    entries = read_manifest(path)
    if base not in entries:
        close = [n for n in entries if n.split(".")[:2] == base.split(".")[:2]][:5]
        raise KeyError(
            f"{path}: no entry for {base!r} ({len(entries)} entries; similar: {close or 'none'}). "
            f"Check sources.vcf.url / chrom_urls, or give the MD5 in sources.vcf.md5."
        )
    return entries[base]


def resolve_md5(url: str, md5: str | None, manifest: str | os.PathLike | None) -> str | None:
    """The MD5 to check `url` against: the configured one, else the manifest's; both known and different is an error."""
    from_manifest = manifest_md5(manifest, url) if manifest else None
    if md5 and from_manifest and md5.lower() != from_manifest:
        raise ChecksumError(
            f"{url}: the config gives md5 {md5.lower()} but {manifest} gives {from_manifest}; "
            f"remove the stale value from the config (sources.*.md5)."
        )
    chosen = md5 or from_manifest
    return chosen.lower() if chosen else None


# ----------------------------------------------------------------------------------- post-processing


def compression(path: str | os.PathLike) -> str:
    """'bgzf', 'gzip' or 'plain', from the first bytes (BGZF = gzip with a BC extra field)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] != b"\x1f\x8b":
        return "plain"
    if len(head) >= 16 and head[3] & 4 and head[12:14] == b"BC":
        return "bgzf"
    return "gzip"


def _cleanup(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def bgzip_file(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Write `src` (plain, gzip or bgzip) to `dest` as bgzip: bgzip input is copied, plain gzip recompressed."""
    import pysam
    from pysam.libcbgzf import BGZFile

    kind = compression(src)
    if kind == "bgzf":
        shutil.copyfile(src, dest)
    elif kind == "plain":
        pysam.tabix_compress(str(src), str(dest), force=True)
    else:
        with gzip.open(src, "rb") as fin, BGZFile(str(dest), "wb") as fout:
            while chunk := fin.read(CHUNK):
                fout.write(chunk)


def prepare_reference(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    """The reference contract: `dest` bgzip-compressed with `dest`.fai and `dest`.gzi, all renamed into place last."""
    import pysam

    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp_fai, tmp_gzi = Path(f"{tmp}.fai"), Path(f"{tmp}.gzi")
    try:
        bgzip_file(src, tmp)
        try:
            pysam.faidx(str(tmp))
        except pysam.SamtoolsError as err:
            raise PrepareError(f"{src}: cannot index as FASTA ({err}); is it a (b)gzipped or plain FASTA?") from err
        if not tmp_fai.exists() or tmp_fai.stat().st_size == 0:
            raise PrepareError(f"{src}: no sequence found; is it a FASTA file?")
        os.replace(tmp_fai, f"{dest}.fai")
        os.replace(tmp_gzi, f"{dest}.gzi")
        os.replace(tmp, dest)
    finally:
        _cleanup(tmp, tmp_fai, tmp_gzi)


def prepare_vcf(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    """The VCF contract: a bgzipped, sorted VCF at `dest` with `dest`.tbi; otherwise an error and no output."""
    import pysam

    dest = Path(dest)
    kind = compression(src)
    if kind != "bgzf":
        raise PrepareError(
            f"{src}: the VCF is {'plain text' if kind == 'plain' else 'gzip but not bgzip'}; tabix needs bgzip. "
            f"Recompress it with `bcftools view -Oz` (sorted) or `bgzip`, or point the config at the .vcf.gz."
        )
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp_tbi = Path(f"{tmp}.tbi")
    try:
        shutil.copyfile(src, tmp)
        try:
            pysam.tabix_index(str(tmp), preset="vcf", force=True, index=str(tmp_tbi))
        except OSError as err:
            raise PrepareError(
                f"{src}: tabix cannot index it ({err}); the VCF is probably not sorted by chromosome and position. "
                f"Sort it with `bcftools sort -Oz` and point the config at the result."
            ) from err
        os.replace(tmp_tbi, f"{dest}.tbi")
        os.replace(tmp, dest)
    finally:
        _cleanup(tmp, tmp_tbi)


def ensure_compression(src: str | os.PathLike, dest: str | os.PathLike, gzipped: bool) -> None:
    """Move `src` to `dest`, gzip-compressed (any gzip flavour kept) or plain as asked."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        kind = compression(src)
        if gzipped and kind == "plain":
            with open(src, "rb") as fin, gzip.open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, CHUNK)
        elif not gzipped and kind != "plain":
            with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, CHUNK)
        else:
            shutil.move(src, tmp)
        os.replace(tmp, dest)
    finally:
        _cleanup(tmp)


# ----------------------------------------------------------------------------------- rule entry points


def _download_name(dest: Path) -> Path:
    """Where a rule's raw download lives (its `.part` beside it survives a failed job, so a retry resumes)."""
    return dest.with_name(f".{dest.name}.download")


def download_and_prepare(
    url: str,
    dest: str | os.PathLike,
    kind: str,
    md5: str | None = None,
    sha256: str | None = None,
    manifest: str | os.PathLike | None = None,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 2.0,
) -> Digests:
    """Fetch `url`, verify it, and write the contract file `dest`.

    `kind`: `reference` (bgzip + .fai + .gzi), `vcf` (bgzip checked + .tbi), `gzip` (gzip-compressed as is or
    compressed), `plain` (decompressed if needed). The MD5 comes from `md5` or from the checksum `manifest`
    (1000 Genomes style). The source's SHA-256 goes to `<dest>.sha256` when no checksum was known.
    """
    dest = Path(dest)
    md5 = resolve_md5(url, md5, manifest)
    raw = _download_name(dest)
    digests = fetch(url, raw, md5, sha256, retries, timeout, backoff, record_sha256=False)
    try:
        if kind == "reference":
            prepare_reference(raw, dest)
        elif kind == "vcf":
            prepare_vcf(raw, dest)
        elif kind in ("gzip", "plain"):
            ensure_compression(raw, dest, gzipped=kind == "gzip")
        else:
            raise ValueError(f"unknown download kind {kind!r}")
    finally:
        _cleanup(raw)
    if not (md5 or sha256):
        write_sha256_sidecar(dest, digests.sha256, _source_name(url))
    return digests
