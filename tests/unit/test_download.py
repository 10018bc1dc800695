"""hapexpr.download against a local HTTP server on 127.0.0.1 that supports Range and serves faults."""

import gzip
import hashlib
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pysam
import pytest

from hapexpr.download import (
    ChecksumError,
    DownloadError,
    PrepareError,
    compression,
    download_and_prepare,
    fetch,
    manifest_md5,
    prepare_reference,
    prepare_vcf,
    read_manifest,
    resolve_md5,
)

PAYLOAD = bytes(range(256)) * 4000  # 1 MB, every byte value
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
FAST = {"retries": 3, "timeout": 0.5, "backoff": 0.01}


class FaultServer(http.server.ThreadingHTTPServer):
    """Serves `files`; `faults[path]` lists the fault of each successive request (then plain service)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.release = threading.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class Handler(http.server.BaseHTTPRequestHandler):
    server: FaultServer

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        srv = self.server
        rng = self.headers.get("Range")
        srv.requests.append((self.path, rng))
        if self.path not in srv.files:
            self.send_error(404)
            return
        body = srv.files[self.path]
        faults = srv.faults.get(self.path, [])
        fault = faults.pop(0) if faults else "ok"
        if fault == "500":
            self.send_error(500)
            return
        start = 0
        if rng and fault != "ignore_range":
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        rest = body[start:]
        if fault == "no_length_short":  # no Content-Length: closing the connection ends the body, cut or not
            self.end_headers()
            self.wfile.write(rest[: len(rest) * 9 // 10])
            self.wfile.flush()
            self.close_connection = True
            return
        if fault == "chunked_short":  # chunked, and the connection drops before the last (empty) chunk
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            cut = rest[: len(rest) * 9 // 10]
            for i in range(0, len(cut), 65536):
                piece = cut[i : i + 65536]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(rest)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if fault == "short":
            self.wfile.write(rest[: len(rest) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        if fault == "stall":
            self.wfile.write(rest[: len(rest) // 2])
            self.wfile.flush()
            srv.release.wait(5)  # longer than the client's timeout; released at teardown
            self.close_connection = True
            return
        self.wfile.write(rest)


@pytest.fixture
def server():
    srv = FaultServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def serve(server: FaultServer, path: str, body: bytes = PAYLOAD, faults: tuple[str, ...] = ()) -> str:
    server.files[path] = body
    server.faults[path] = list(faults)
    return server.url(path)


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir())


# ------------------------------------------------------------------------------------------ fetch


def test_plain_download_records_sha256_beside_the_file(server, tmp_path):
    dest = tmp_path / "f.bin"
    got = fetch(serve(server, "/f.bin"), dest, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert (got.md5, got.sha256) == (MD5, SHA256)
    assert Path(f"{dest}.sha256").read_text() == f"{SHA256}  f.bin\n"
    assert leftovers(dest) == ["f.bin", "f.bin.sha256"]


def test_known_md5_is_verified_and_no_sidecar_written(server, tmp_path):
    dest = tmp_path / "f.bin"
    fetch(serve(server, "/f.bin"), dest, md5=MD5, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(dest) == ["f.bin"]


def test_body_cut_short_is_resumed_with_a_range_request(server, tmp_path):
    dest = tmp_path / "f.bin"
    fetch(serve(server, "/f.bin", faults=("short",)), dest, md5=MD5, **FAST)
    assert dest.read_bytes() == PAYLOAD
    ranges = [r for p, r in server.requests if p == "/f.bin"]
    assert ranges[0] is None and ranges[1] == f"bytes={len(PAYLOAD) // 3}-"
    assert leftovers(dest) == ["f.bin"]


def test_500_then_200_succeeds(server, tmp_path):
    dest = tmp_path / "f.bin"
    fetch(serve(server, "/f.bin", faults=("500",)), dest, sha256=SHA256, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert len(server.requests) == 2


def test_stalled_response_times_out_and_resumes(server, tmp_path):
    dest = tmp_path / "f.bin"
    fetch(serve(server, "/f.bin", faults=("stall",)), dest, md5=MD5, **FAST)
    assert dest.read_bytes() == PAYLOAD
    ranges = [r for _, r in server.requests]
    assert ranges[0] is None and ranges[1] is not None and ranges[1] != "bytes=0-"


def test_wrong_checksum_names_url_expected_and_got_and_leaves_nothing(server, tmp_path):
    dest = tmp_path / "f.bin"
    url = serve(server, "/f.bin")
    wrong = "0" * 32
    with pytest.raises(ChecksumError) as err:
        fetch(url, dest, md5=wrong, **FAST)
    message = str(err.value)
    assert url in message and wrong in message and MD5 in message
    assert leftovers(dest) == []


def test_corrupted_body_is_caught_by_the_checksum(server, tmp_path):
    dest = tmp_path / "f.bin"
    url = serve(server, "/f.bin", body=PAYLOAD[:-1] + b"\x00")
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        fetch(url, dest, sha256=SHA256, **FAST)
    assert not dest.exists() and leftovers(dest) == []


def test_existing_part_file_is_resumed(server, tmp_path):
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:1000])
    fetch(serve(server, "/f.bin"), dest, md5=MD5, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [("/f.bin", "bytes=1000-")]


def test_complete_part_file_answered_416_is_accepted(server, tmp_path):
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)
    fetch(serve(server, "/f.bin"), dest, md5=MD5, **FAST)
    assert dest.read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"garbage" * 10)
    fetch(serve(server, "/f.bin", faults=("ignore_range",)), dest, md5=MD5, **FAST)
    assert dest.read_bytes() == PAYLOAD


def test_stale_part_file_with_wrong_bytes_fails_checksum_and_is_removed(server, tmp_path):
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"x" * 1000)
    with pytest.raises(ChecksumError):
        fetch(serve(server, "/f.bin"), dest, md5=MD5, **FAST)
    assert leftovers(dest) == []
    fetch(serve(server, "/f.bin"), dest, md5=MD5, **FAST)  # the rerun starts clean
    assert dest.read_bytes() == PAYLOAD


def test_persistent_faults_exhaust_retries_without_a_final_file(server, tmp_path):
    dest = tmp_path / "f.bin"
    url = serve(server, "/f.bin", faults=("short",) * 4)
    with pytest.raises(DownloadError, match="failed after 4 attempts") as err:
        fetch(url, dest, md5=MD5, **FAST)
    assert url in str(err.value)
    assert not dest.exists() and (tmp_path / "f.bin.part").exists()
    fetch(url, dest, md5=MD5, **FAST)  # a rerun resumes the kept .part
    assert dest.read_bytes() == PAYLOAD


def test_404_fails_at_once(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server.url("/missing"), tmp_path / "f.bin", **FAST)
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_fails(tmp_path):
    srv = FaultServer()
    port = srv.server_address[1]
    srv.server_close()  # nothing listens on this port now
    with pytest.raises(DownloadError, match="cannot connect"):
        fetch(f"http://127.0.0.1:{port}/f", tmp_path / "f.bin", retries=1, timeout=0.5, backoff=0.01)


def test_unsupported_scheme_fails_at_once(tmp_path):
    with pytest.raises(DownloadError, match="unsupported scheme 's3'"):
        fetch("s3://bucket/key", tmp_path / "f.bin", **FAST)


def test_file_url_and_plain_path_are_copied(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    fetch(src.as_uri(), tmp_path / "a.bin", md5=MD5)
    fetch(str(src), tmp_path / "b.bin", sha256=SHA256)
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match="no such local file"):
        fetch(str(tmp_path / "absent"), tmp_path / "c.bin")


# --------------------------------------------------------------------------------------- manifest

MANIFEST = (
    "./1kGP_high_coverage_Illumina.chr21.filtered.SNV_INDEL_SV_phased_panel.vcf.gz\t1eb1f48bf5608d3abacf5047c8889456\n"
    "./1kGP_high_coverage_Illumina.chr22.filtered.SNV_INDEL_SV_phased_panel.vcf.gz\ta2653cc7a1c8d03a96ca4f14d0fabdd2\n"
    "./1kGP_high_coverage_Illumina.chr22.filtered.SNV_INDEL_SV_phased_panel.vcf.gz.tbi\t"
    "0123456789abcdef0123456789abcdef\n"
)
VCF22 = "1kGP_high_coverage_Illumina.chr22.filtered.SNV_INDEL_SV_phased_panel.vcf.gz"


def test_manifest_gives_md5_by_name_or_url(tmp_path):
    path = tmp_path / "manifest.txt"
    path.write_text(MANIFEST)
    assert read_manifest(path)[VCF22] == "a2653cc7a1c8d03a96ca4f14d0fabdd2"
    assert manifest_md5(path, VCF22) == "a2653cc7a1c8d03a96ca4f14d0fabdd2"
    assert manifest_md5(path, f"https://host/dir/{VCF22}.tbi") == "0123456789abcdef0123456789abcdef"


def test_manifest_with_md5_first_and_spaces_is_read(tmp_path):
    path = tmp_path / "manifest.txt"
    path.write_text(f"A2653CC7A1C8D03A96CA4F14D0FABDD2  {VCF22}\n")
    assert manifest_md5(path, VCF22) == "a2653cc7a1c8d03a96ca4f14d0fabdd2"


def test_manifest_without_the_name_names_it(tmp_path):
    path = tmp_path / "manifest.txt"
    path.write_text(MANIFEST)
    with pytest.raises(KeyError, match="chrX"):
        manifest_md5(path, "1kGP_high_coverage_Illumina.chrX.filtered.SNV_INDEL_SV_phased_panel.vcf.gz")


def test_malformed_manifest_line_is_an_error_with_its_line(tmp_path):
    path = tmp_path / "manifest.txt"
    path.write_text(MANIFEST + "just-a-name\n")
    with pytest.raises(ValueError, match="line 4"):
        read_manifest(path)


def test_md5_from_config_or_manifest_and_their_conflict(tmp_path):
    path = tmp_path / "manifest.txt"
    path.write_text(MANIFEST)
    url = f"https://host/{VCF22}"
    assert resolve_md5(url, None, path) == "a2653cc7a1c8d03a96ca4f14d0fabdd2"
    assert resolve_md5(url, "A2653CC7A1C8D03A96CA4F14D0FABDD2", path) == "a2653cc7a1c8d03a96ca4f14d0fabdd2"
    assert resolve_md5(url, "b" * 32, None) == "b" * 32
    assert resolve_md5(url, None, None) is None
    with pytest.raises(ChecksumError, match="stale"):
        resolve_md5(url, "f" * 32, path)


def test_vcf_checked_against_the_manifest(server, tmp_path):
    src = bgzip_text(tmp_path, "in.vcf.gz", vcf_lines([("22", 100)]))
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(f"./{VCF22}\t{'0' * 32}\n")
    url = serve(server, f"/{VCF22}", body=src.read_bytes())
    dest = tmp_path / "res" / "chr22.vcf.gz"
    with pytest.raises(ChecksumError, match="0" * 32):
        download_and_prepare(url, dest, "vcf", manifest=manifest, **FAST)
    assert list(dest.parent.iterdir()) == []


# -------------------------------------------------------------------------------- post-processing

FASTA = ">chrA\n" + "ACGT" * 3000 + "\n>chrB\n" + "GGCC" * 500 + "\n"


def check_reference(dest: Path) -> None:
    assert compression(dest) == "bgzf"
    assert Path(f"{dest}.fai").exists() and Path(f"{dest}.gzi").exists()
    with pysam.FastaFile(str(dest)) as fa:
        assert list(fa.references) == ["chrA", "chrB"]
        assert fa.fetch("chrA", 4, 8) == "ACGT"
        assert fa.get_reference_length("chrB") == 2000
    assert not [p for p in dest.parent.iterdir() if ".tmp" in p.name]


@pytest.mark.parametrize("flavour", ["plain", "gzip", "bgzf"])
def test_reference_becomes_bgzip_with_fai_and_gzi(tmp_path, flavour):
    src = tmp_path / "ref.fa"
    src.write_text(FASTA)
    if flavour == "gzip":
        src = tmp_path / "ref.fa.gz"
        src.write_bytes(gzip.compress(FASTA.encode()))
    elif flavour == "bgzf":
        pysam.tabix_compress(str(tmp_path / "ref.fa"), str(tmp_path / "ref.bgz.fa.gz"))
        src = tmp_path / "ref.bgz.fa.gz"
    assert compression(src) == flavour
    dest = tmp_path / "out" / "genome.fa.gz"
    dest.parent.mkdir()
    prepare_reference(src, dest)
    check_reference(dest)
    if flavour == "bgzf":
        assert dest.read_bytes() == src.read_bytes()


def test_non_fasta_reference_is_an_error_without_output(tmp_path):
    src = tmp_path / "ref.fa"
    src.write_text("this is not a fasta\n")
    dest = tmp_path / "out" / "genome.fa.gz"
    dest.parent.mkdir()
    with pytest.raises(PrepareError, match="ref.fa"):
        prepare_reference(src, dest)
    assert list(dest.parent.iterdir()) == []


VCF_HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=22,length=51304566>\n##contig=<ID=21,length=48129895>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
)


def vcf_lines(positions: list[tuple[str, int]]) -> str:
    return VCF_HEADER + "".join(f"{c}\t{p}\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1\n" for c, p in positions)


def bgzip_text(tmp_path: Path, name: str, text: str) -> Path:
    plain = tmp_path / (name + ".plain")
    plain.write_text(text)
    out = tmp_path / name
    pysam.tabix_compress(str(plain), str(out), force=True)
    plain.unlink()
    return out


def test_sorted_bgzipped_vcf_is_indexed(tmp_path):
    src = bgzip_text(tmp_path, "in.vcf.gz", vcf_lines([("22", 100), ("22", 200), ("22", 300)]))
    dest = tmp_path / "out" / "chr22.vcf.gz"
    dest.parent.mkdir()
    prepare_vcf(src, dest)
    with pysam.VariantFile(str(dest)) as vcf:
        assert [r.pos for r in vcf.fetch("22", 150, 350)] == [200, 300]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["chr22.vcf.gz", "chr22.vcf.gz.tbi"]


def test_unsorted_vcf_is_an_error_without_output(tmp_path):
    src = bgzip_text(tmp_path, "in.vcf.gz", vcf_lines([("22", 300), ("22", 100)]))
    dest = tmp_path / "out" / "chr22.vcf.gz"
    dest.parent.mkdir()
    with pytest.raises(PrepareError, match="not sorted") as err:
        prepare_vcf(src, dest)
    assert "in.vcf.gz" in str(err.value)
    assert list(dest.parent.iterdir()) == []


def test_interleaved_chromosomes_are_an_error(tmp_path):
    src = bgzip_text(tmp_path, "in.vcf.gz", vcf_lines([("22", 100), ("21", 100), ("22", 200)]))
    dest = tmp_path / "chr22.vcf.gz"
    with pytest.raises(PrepareError, match="sort"):
        prepare_vcf(src, dest)
    assert not dest.exists()


@pytest.mark.parametrize("flavour", ["plain", "gzip"])
def test_vcf_not_bgzipped_is_an_error(tmp_path, flavour):
    text = vcf_lines([("22", 100)])
    src = tmp_path / "in.vcf.gz"
    src.write_bytes(text.encode() if flavour == "plain" else gzip.compress(text.encode()))
    with pytest.raises(PrepareError, match="bgzip"):
        prepare_vcf(src, tmp_path / "chr22.vcf.gz")
    assert not (tmp_path / "chr22.vcf.gz").exists()


def test_download_and_prepare_a_vcf_over_http(server, tmp_path):
    src = bgzip_text(tmp_path, "in.vcf.gz", vcf_lines([("22", 100), ("22", 200)]))
    body = src.read_bytes()
    url = serve(server, "/panel.vcf.gz", body=body, faults=("short", "500"))
    dest = tmp_path / "res" / "chr22.vcf.gz"
    download_and_prepare(url, dest, "vcf", md5=hashlib.md5(body).hexdigest(), **FAST)
    assert dest.read_bytes() == body
    assert sorted(p.name for p in dest.parent.iterdir()) == ["chr22.vcf.gz", "chr22.vcf.gz.tbi"]


def test_download_and_prepare_reference_records_source_sha256(server, tmp_path):
    url = serve(server, "/GRCh38.fa", body=FASTA.encode())
    dest = tmp_path / "res" / "genome.fa.gz"
    download_and_prepare(url, dest, "reference", **FAST)
    check_reference(dest)
    assert Path(f"{dest}.sha256").read_text() == f"{hashlib.sha256(FASTA.encode()).hexdigest()}  GRCh38.fa\n"


def test_download_and_prepare_gzip_and_plain(tmp_path):
    plain = tmp_path / "pops.txt"
    plain.write_text("HG1 GBR\n")
    gz = tmp_path / "pops.txt.gz"
    gz.write_bytes(gzip.compress(b"HG1 GBR\n"))
    download_and_prepare(str(plain), tmp_path / "o" / "a.gz", "gzip")
    download_and_prepare(str(gz), tmp_path / "o" / "b.tsv", "plain")
    download_and_prepare(str(gz), tmp_path / "o" / "c.gz", "gzip")
    assert gzip.decompress((tmp_path / "o" / "a.gz").read_bytes()) == b"HG1 GBR\n"
    assert (tmp_path / "o" / "b.tsv").read_bytes() == b"HG1 GBR\n"
    assert (tmp_path / "o" / "c.gz").read_bytes() == gz.read_bytes()
    assert gz.exists() and plain.exists()  # local sources are copied, never moved


@pytest.mark.skipif(shutil.which("tabix") is None, reason="tabix not installed (.ci/run installs it)")
def test_tabix_cli_reads_our_index(tmp_path):
    src = bgzip_text(tmp_path, "in.vcf.gz", vcf_lines([("22", 100), ("22", 200)]))
    dest = tmp_path / "chr22.vcf.gz"
    prepare_vcf(src, dest)
    out = subprocess.run(["tabix", str(dest), "22:150-250"], capture_output=True, text=True, check=True).stdout
    assert out.split("\t")[1] == "200"
    assert os.path.getsize(f"{dest}.tbi") > 0


# --------------------------------------------------------------- bodies cut short that no header announces

GTF_GZ = gzip.compress(("chr1\tHAVANA\tgene\t1\t100\t.\t+\t.\tgene_id \"G1\";\n" * 20000).encode())


def test_gzip_body_cut_short_without_length_is_an_error_naming_the_url_and_leaves_nothing(server, tmp_path):
    url = serve(server, "/genes.gtf.gz", body=GTF_GZ, faults=("no_length_short",) * 10)
    dest = tmp_path / "res" / "genes.gtf.gz"
    with pytest.raises(PrepareError) as err:
        download_and_prepare(url, dest, "gzip", retries=1, timeout=0.5, backoff=0.01)
    assert url in str(err.value) and "truncated" in str(err.value) and "rerun" in str(err.value)
    assert list(dest.parent.iterdir()) == []


def test_chunked_body_cut_short_every_time_never_becomes_the_file(server, tmp_path):
    url = serve(server, "/genes.gtf.gz", body=GTF_GZ, faults=("chunked_short",) * 10)
    dest = tmp_path / "res" / "genes.gtf.gz"
    with pytest.raises(DownloadError, match="IncompleteRead"):
        download_and_prepare(url, dest, "gzip", retries=1, timeout=0.5, backoff=0.01)
    assert not dest.exists()


def test_chunked_body_cut_once_is_resumed(server, tmp_path):
    url = serve(server, "/genes.gtf.gz", body=GTF_GZ, faults=("chunked_short",))
    dest = tmp_path / "res" / "genes.gtf.gz"
    download_and_prepare(url, dest, "gzip", **FAST)
    assert dest.read_bytes() == GTF_GZ


def test_bgzipped_vcf_cut_short_without_length_is_an_error(server, tmp_path):
    src = bgzip_text(tmp_path, "in.vcf.gz", vcf_lines([("22", p) for p in range(100, 40000, 7)]))
    url = serve(server, "/panel.vcf.gz", body=src.read_bytes(), faults=("no_length_short",) * 10)
    dest = tmp_path / "res" / "chr22.vcf.gz"
    with pytest.raises(PrepareError, match="BGZF end-of-file block is missing") as err:
        download_and_prepare(url, dest, "vcf", retries=0)
    assert url in str(err.value)
    assert list(dest.parent.iterdir()) == []


@pytest.mark.parametrize("flavour", ["plain", "bgzf"])
def test_reference_cut_mid_line_without_length_is_an_error(server, tmp_path, flavour):
    body = FASTA.encode()
    if flavour == "bgzf":
        (tmp_path / "ref.fa").write_text(FASTA)
        pysam.tabix_compress(str(tmp_path / "ref.fa"), str(tmp_path / "ref.fa.gz"))
        body = (tmp_path / "ref.fa.gz").read_bytes()
    url = serve(server, "/GRCh38.fa", body=body, faults=("no_length_short",) * 10)
    dest = tmp_path / "res" / "genome.fa.gz"
    with pytest.raises(PrepareError, match="truncated") as err:
        download_and_prepare(url, dest, "reference", retries=0)
    assert url in str(err.value)
    assert list(dest.parent.iterdir()) == []


def test_reference_shorter_than_its_declared_build_is_an_error(tmp_path):
    full = ">chrM\n" + "\n".join(["ACGT" * 15] * 276) + "\nACGTACGTA\n"  # 16,569 bp: GRCh38's chrM
    cut = ">chrM\n" + "\n".join(["ACGT" * 15] * 250) + "\n"  # cut at a line end: only the length shows it
    (tmp_path / "full.fa").write_text(full)
    (tmp_path / "cut.fa").write_text(cut)
    prepare_reference(tmp_path / "full.fa", tmp_path / "a.fa.gz", build="GRCh38")
    prepare_reference(tmp_path / "cut.fa", tmp_path / "b.fa.gz")  # no build named: nothing to compare with
    with pytest.raises(PrepareError, match=r"chrM: 15,000 bp, GRCh38 has 16,569.*cut short"):
        prepare_reference(tmp_path / "cut.fa", tmp_path / "c.fa.gz", build="GRCh38")
    assert not (tmp_path / "c.fa.gz").exists() and not (tmp_path / "c.fa.gz.fai").exists()


def test_connection_refused_does_not_mention_a_partial_file(tmp_path):
    srv = FaultServer()
    port = srv.server_address[1]
    srv.server_close()
    with pytest.raises(DownloadError) as err:
        fetch(f"http://127.0.0.1:{port}/f", tmp_path / "f.bin", retries=0, timeout=0.5, backoff=0.01)
    assert "partial" not in str(err.value) and "f.bin.part" not in str(err.value)
    assert "Nothing was written" in str(err.value)
