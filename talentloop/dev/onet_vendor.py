"""Dev tooling: cut an O*NET release folder down to the packaged data the import reads.

``python -m talentloop.dev.onet_vendor SOURCE_DIR [--out DIR]`` writes, for each file of
:data:`activities.skills.onet.ONET_FILES`, a gzip-compressed tab-separated copy with only the
columns the import reads (header kept, rows unchanged, gzip mtime 0 so the bytes are
reproducible), a ``MANIFEST.json`` (sha256 and row count of each file, the release, the
attribution) and an ``ATTRIBUTION.md``. The default output is the package's data folder
(:data:`activities.skills.onet.PACKAGED_ONET_DIR`), which is committed; run this only to
refresh it.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from activities.skills.onet import (
    MANIFEST_NAME,
    ONET_ATTRIBUTION,
    ONET_FILES,
    ONET_RELEASE,
    PACKAGED_ONET_DIR,
)

SOURCE_URL = "https://www.onetcenter.org/database.html"
LICENSE_NAME = "Creative Commons Attribution 4.0 International (CC BY 4.0)"
LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"
ONET_LICENSE_URL = "https://www.onetcenter.org/license_db.html"
COMMAND = "python -m talentloop.dev.onet_vendor SOURCE_DIR [--out DIR]"


class VendorError(Exception):
    """The source folder cannot be vendored: a file or column is missing, or a row is malformed."""


@dataclass(frozen=True)
class VendoredFile:
    """One written data file.

    Attributes:
        name: File name in the output folder, e.g. "Skills.txt.gz".
        source: The release file it was cut from, e.g. "Skills.txt".
        columns: The columns kept, in order.
        rows: Data rows (the header not counted).
        sha256: Hex sha256 of the compressed bytes.
        size: Size of the compressed bytes.

    """

    name: str
    source: str
    columns: tuple[str, ...]
    rows: int
    sha256: str
    size: int


def cut_columns(source: Path, columns: Sequence[str]) -> tuple[bytes, int]:
    """The UTF-8 tab-separated text of ``source`` with only ``columns``, and its data row count.

    The file is parsed exactly as the import parses it (tab-separated, no quoting); blank lines
    are dropped, every other row is kept in order with its values unchanged.

    Args:
        source: An O*NET text file with a header row.
        columns: Header names to keep, in output order.

    Returns:
        The text (header line first, each line ending in a newline) and the number of data rows.

    Raises:
        VendorError: The file lacks a column, or a row has a different number of fields.

    """
    with source.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise VendorError(f"{source}: empty file")
        missing = [c for c in columns if c not in header]
        if missing:
            raise VendorError(f"{source}: no column(s) {', '.join(missing)}")
        keep = [header.index(c) for c in columns]
        out = io.StringIO(newline="")
        out.write("\t".join(columns) + "\n")
        rows = 0
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise VendorError(
                    f"{source}:{reader.line_num}: {len(row)} fields, the header has {len(header)}"
                )
            values = [row[i] for i in keep]
            if any("\n" in v or "\r" in v for v in values):
                raise VendorError(f"{source}:{reader.line_num}: a value holds a line break")
            out.write("\t".join(values) + "\n")
            rows += 1
    return out.getvalue().encode("utf-8"), rows


def gzip_bytes(data: bytes) -> bytes:
    """Gzip ``data`` reproducibly: no file name, mtime 0, level 9."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def manifest_text(files: Sequence[VendoredFile]) -> str:
    """The MANIFEST.json text for ``files`` (stable key order, trailing newline)."""
    manifest = {
        "release": ONET_RELEASE,
        "source": SOURCE_URL,
        "license": LICENSE_NAME,
        "license_url": LICENSE_URL,
        "attribution": ONET_ATTRIBUTION,
        "made_by": COMMAND,
        "files": {
            f.name: {
                "source": f.source,
                "columns": list(f.columns),
                "rows": f.rows,
                "sha256": f.sha256,
                "bytes": f.size,
            }
            for f in files
        },
    }
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def attribution_text(files: Sequence[VendoredFile]) -> str:
    """The ATTRIBUTION.md text: credit, source, license, what was kept and how."""
    kept = "\n".join(f"| `{f.name}` | {f.rows:,} | {', '.join(f.columns)} |" for f in files)
    return f"""# O*NET {ONET_RELEASE} data (excerpt)

{ONET_ATTRIBUTION}

- Source: O*NET {ONET_RELEASE} Database (May 2025 release), O*NET Resource Center,
  U.S. Department of Labor, Employment and Training Administration (USDOL/ETA):
  {SOURCE_URL}
- License: {LICENSE_NAME}, {LICENSE_URL}
  (O*NET's terms: {ONET_LICENSE_URL})
- O*NET® is a trademark of USDOL/ETA. This excerpt is not endorsed by USDOL/ETA.

## What is here, and how it was made

The four text files talentloop's O*NET import reads, each cut to the columns it reads. Rows are
unchanged and in the release's order (blank lines dropped), with the header row and the
release's column names; the files are tab-separated UTF-8, gzip-compressed (mtime 0, so the
bytes are reproducible). `{MANIFEST_NAME}` lists each file's sha256 and row count.

| file | rows | columns kept |
|---|---|---|
{kept}

Changes from the release: the other columns of these files were removed, and the files were
compressed. No values were altered. The release's other files are not included. (In the
release folder this was made from, Skills.txt had been regenerated from the release's official
Excel file into the official text layout, values to two decimals.)

Made with `{COMMAND}`; the default output folder is this one (`activities/skills/onet_data`).
Run it on a newer release to refresh, or point talentloop at a release folder directly:
`talentloop import onet --dir PATH` or `TALENTLOOP_ONET_DIR`.
"""


def vendor(source_dir: Path, out_dir: Path = PACKAGED_ONET_DIR) -> list[VendoredFile]:
    """Write the packaged O*NET data for the release in ``source_dir`` into ``out_dir``.

    Args:
        source_dir: An O*NET release folder with the plain ``.txt`` files.
        out_dir: Where to write the ``.txt.gz`` files, MANIFEST.json and ATTRIBUTION.md.

    Returns:
        The data files written.

    Raises:
        VendorError: A source file or column is missing, or a row is malformed.

    """
    missing = [name for name in ONET_FILES if not (source_dir / name).is_file()]
    if missing:
        raise VendorError(f"{source_dir}: missing {', '.join(missing)}")
    written: list[VendoredFile] = []
    payloads: dict[str, bytes] = {}
    for name, columns in ONET_FILES.items():
        text, rows = cut_columns(source_dir / name, columns)
        packed = gzip_bytes(text)
        payloads[f"{name}.gz"] = packed
        written.append(
            VendoredFile(
                name=f"{name}.gz",
                source=name,
                columns=columns,
                rows=rows,
                sha256=hashlib.sha256(packed).hexdigest(),
                size=len(packed),
            )
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for file_name, packed in payloads.items():
        (out_dir / file_name).write_bytes(packed)
    (out_dir / MANIFEST_NAME).write_text(manifest_text(written), encoding="utf-8", newline="\n")
    (out_dir / "ATTRIBUTION.md").write_text(
        attribution_text(written), encoding="utf-8", newline="\n"
    )
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m talentloop.dev.onet_vendor",
        description="Write the packaged O*NET data (compressed, only the columns read) "
        "from an O*NET release folder.",
    )
    parser.add_argument("source_dir", type=Path, help="O*NET release folder (plain .txt files)")
    parser.add_argument(
        "--out",
        type=Path,
        default=PACKAGED_ONET_DIR,
        help=f"output folder (default: {PACKAGED_ONET_DIR})",
    )
    args = parser.parse_args(argv)
    try:
        written = vendor(args.source_dir, args.out)
    except VendorError as err:
        print(f"onet_vendor: {err}", file=sys.stderr)
        return 2
    total = 0
    for f in written:
        print(f"{f.name}: {f.rows} rows, {f.size:,} bytes, sha256 {f.sha256}")
        total += f.size
    print(
        f"wrote {len(written)} files ({total:,} bytes), {MANIFEST_NAME}, ATTRIBUTION.md "
        f"to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
