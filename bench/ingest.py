"""WARC ingestion throughput, and the crawl writer that the tests share.

    python bench/ingest.py [--pages 2000]

1. A crawl of ``--pages`` news pages made from Reuters-21578 articles (real text, titles and
   dates), with what real crawls also hold around them: a request record per page, and every
   10th page an image, every 20th a 404, every 25th a revisit record. Read with
   ``read_corpus`` (as ``indexer rebuild`` does, before embedding), three times: the median
   gives pages/s and MB/s of WARC.
2. Memory: peak RSS of a child process reading that crawl, against one reading a crawl with
   3 GB (unpacked) of video payloads besides one page: a crawl streams in constant memory.
"""

from __future__ import annotations

import argparse
import gzip
import html
import io
import json
import random
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import SHARED, WORK, command_line, header, median, write_section  # noqa: E402

REUTERS = SHARED / "reuters21578" / "reuters21578.jsonl.gz"
PHOTO = b"\xff\xd8\xff" + random.Random(7).randbytes(40_000)  # incompressible, as JPEG data is


def news_page(title: str, paragraphs: list[str], *, date: str | None = None, author: str | None = None,
              site: str | None = None) -> bytes:
    """An article page as news sites serve it: metadata in the head, navigation and a footer around the text."""
    head = [f"<title>{html.escape(title)}</title>"]
    if site:
        head.append(f'<meta property="og:site_name" content="{html.escape(site)}">')
    if author:
        head.append(f'<meta name="author" content="{html.escape(author)}">')
    if date:
        head.append(f'<meta property="article:published_time" content="{date}">')
    body = "".join(f"<p>{html.escape(paragraph)}</p>" for paragraph in paragraphs)
    return (f"<!DOCTYPE html><html><head>{''.join(head)}</head><body>"
            "<nav><a href='/'>Home</a> <a href='/world'>World</a> <a href='/business'>Business</a></nav>"
            f"<article><h1>{html.escape(title)}</h1>{body}</article>"
            "<footer>Copyright 2024. All rights reserved.</footer></body></html>").encode()


class ZeroStream(io.RawIOBase):
    """``size`` zero bytes, made as they are read (a huge payload without holding it). Seekable,
    so that warcio digests it in place instead of spooling it to a temporary file."""

    def __init__(self, size: int) -> None:
        self.size, self.position = size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, min(self.size, base + offset))
        return self.position

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.size - self.position)
        buffer[:count] = bytes(count)
        self.position += count
        return count


class CrawlWriter:
    """WARC records as a crawler writes them (warcio's writer), one gzip member each."""

    def __init__(self, stream, gzip_members: bool = True) -> None:
        from warcio.warcwriter import WARCWriter

        self.writer = WARCWriter(stream, gzip=gzip_members)

    def response(self, url: str, payload: bytes | io.RawIOBase, *, status: str = "200 OK",
                 content_type: str = "text/html; charset=utf-8", crawled: str = "2024-06-01T08:00:00Z",
                 length: int | None = None) -> str:
        """Writes the record; returns its payload digest."""
        from warcio.statusandheaders import StatusAndHeaders

        headers = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
        if isinstance(payload, bytes):  # with its length, warcio digests it in place (no spooled temporary file)
            payload, length = io.BytesIO(payload), len(payload)
        stream = payload
        record = self.writer.create_warc_record(url, "response", payload=stream, http_headers=headers,
                                                length=length, warc_headers_dict={"WARC-Date": crawled})
        self.writer.write_record(record)
        return record.rec_headers.get_header("WARC-Payload-Digest")

    def request(self, url: str) -> None:
        from warcio.statusandheaders import StatusAndHeaders

        headers = StatusAndHeaders(f"GET {url} HTTP/1.1", [("User-Agent", "bench-crawler")], is_http_request=True)
        self.writer.write_record(self.writer.create_warc_record(url, "request", http_headers=headers))

    def revisit(self, url: str, digest: str, refers_to: str) -> None:
        from warcio.statusandheaders import StatusAndHeaders

        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        self.writer.write_record(self.writer.create_revisit_record(
            url, digest, refers_to, "2024-06-01T08:00:00Z", http_headers=headers))


def reuters_records(count: int) -> list[dict]:
    records = []
    with gzip.open(REUTERS, "rt", encoding="utf-8") as stream:
        for line in stream:
            record = json.loads(line)
            if record.get("title") and len((record.get("body") or "").split()) >= 60:
                records.append(record)
                if len(records) == count:
                    break
    return records


def paragraphs_of(body: str) -> list[str]:
    """Newswire text is hard-wrapped, with paragraphs opened by an indent: one string each."""
    parts = re.split(r"\n(?=\s{2,})|\n\s*\n", body)
    return [" ".join(part.split()) for part in parts if part.strip()]


def write_news_crawl(path: Path, pages: int) -> dict[str, int]:
    """A crawl of Reuters articles as pages, with a crawl's usual other records; returns counts."""
    counts = {"pages": 0, "records": 0}
    with open(path, "wb") as stream:
        crawl = CrawlWriter(stream)
        for number, record in enumerate(reuters_records(pages)):
            url = f"https://news.example.com/{(record.get('date') or 'undated')[:10]}/{record['id']}"
            paragraphs = paragraphs_of(record["body"])
            crawl.request(url)
            digest = crawl.response(url, news_page(record["title"], paragraphs, date=record.get("date"),
                                                   site="Example News"))
            counts["pages"] += 1
            counts["records"] += 2
            if number % 10 == 0:
                crawl.response(f"{url}/photo.jpg", PHOTO, content_type="image/jpeg")
                counts["records"] += 1
            if number % 20 == 0:
                crawl.response(f"{url}/comments", b"<html>Not found</html>", status="404 Not Found")
                counts["records"] += 1
            if number % 25 == 0:
                crawl.revisit(url, digest, url)
                counts["records"] += 1
    return counts


def write_video_crawl(path: Path, videos: int, size: int) -> None:
    """One news page and ``videos`` video payloads of ``size`` bytes each (zeros: small when gzipped)."""
    records = reuters_records(1)
    with open(path, "wb") as stream:
        crawl = CrawlWriter(stream)
        crawl.response("https://news.example.com/one", news_page(records[0]["title"], paragraphs_of(records[0]["body"])))
        for number in range(videos):
            crawl.response(f"https://news.example.com/video-{number}.mp4", ZeroStream(size), content_type="video/mp4",
                           length=size)


def unpacked_size(path: Path) -> int:
    size = 0
    with gzip.open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            size += len(block)
    return size


def child_read(path: Path) -> dict:
    """Read a crawl in a fresh process: seconds, articles and peak RSS (MB)."""
    code = ("import json, resource, sys, time\n"
            "from archive.ingest.corpus import read_corpus\n"
            "started = time.perf_counter()\n"
            "reading = read_corpus(sys.argv[1])\n"
            "print(json.dumps({'seconds': time.perf_counter() - started, 'articles': len(reading.articles),"
            " 'records': reading.records_dict(), 'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    completed = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                               cwd=Path(__file__).resolve().parent.parent)
    return json.loads(completed.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    crawl = WORK / f"news-{arguments.pages}.warc.gz"
    written = write_news_crawl(crawl, arguments.pages)
    megabytes = crawl.stat().st_size / 1e6
    runs = [child_read(crawl) for _ in range(arguments.runs)]
    seconds = median([run["seconds"] for run in runs])
    unpacked = unpacked_size(crawl) / 1e6
    video_runs = {}
    for count, video_size in ((10, 30 * 2**20), (10, 300 * 2**20), (30, 300 * 2**20)):  # 0.3, 2.9, 8.8 GB unpacked
        videos = WORK / "videos.warc.gz"
        write_video_crawl(videos, count, video_size)
        video_runs[count * video_size] = (child_read(videos), videos.stat().st_size / 1e6)
        videos.unlink()
    counts = runs[0]["records"]["crawl"]
    lines = [header(command_line()),
             f"A generated crawl of {written['pages']:,} news pages (Reuters-21578 articles as HTML pages with "
             f"navigation and footer) and {written['records'] - written['pages']:,} other records (a request per "
             f"page, images, 404s, revisits): {written['records']:,} records, {megabytes:.1f} MB gzipped. Read "
             f"with `read_corpus` in a fresh process (extraction with trafilatura, no embedding), "
             f"{arguments.runs} runs, median.\n",
             "| records read | articles kept | passed over | seconds (median) | pages/s | MB/s of WARC (gzipped) "
             "| MB/s unpacked | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|",
             f"| {counts['read']:,} | {counts['kept']:,} | {sum(counts['skipped'].values()):,} | {seconds:.1f} | "
             f"{written['pages'] / seconds:.0f} | {megabytes / seconds:.2f} | {unpacked / seconds:.2f} | "
             f"{runs[0]['rss_mb']:.0f} |",
             "",
             f"* Passed over, by reason: {', '.join(f'{reason} {count}' for reason, count in counts['skipped'].items())}.",
             "* Constant memory: crawls of one page and many video payloads, read the same way: "
             + "; ".join(f"{size / 2**30:.1f} GB unpacked ({packed:.1f} MB gzipped) in {run['seconds']:.1f} s, "
                         f"peak RSS {run['rss_mb']:.0f} MB" for size, (run, packed) in video_runs.items())
             + ". (The payloads are zeros, which gzip 1,000:1, so each 16 KB block that warcio reads inflates "
               "to about 16 MB at once: a burst above the page crawl's peak, bounded by the block, not the file.)",
             "* Extraction (trafilatura) is nearly all of the time; embedding the articles afterwards is "
             "slower still (see the build sections)."]
    write_section("ingest", "## WARC ingestion (generated crawl of Reuters pages)\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
