"""``lmbench``: browse, compare, re-report and export stored benchmark runs.

    lmbench [--db URL] runs [--limit N]
    lmbench show RUN
    lmbench report RUN --output DIR [--formats json,html,csv]
    lmbench compare RUN_A RUN_B
    lmbench export --format csv|json [--run RUN] [--output FILE]

RUN is a run id or a unique prefix of one. The database is ``--db``, else
``$LMBENCH_DB``, else the default SQLite file. Exit status: 0 ok, 1 store or
file error, 2 usage error; an error is one line on stderr.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pytest_lmbench import __version__
from pytest_lmbench.records import ResultEntry, report_json_schema, timing_figure
from pytest_lmbench.storage.models import number
from pytest_lmbench.storage.store import EXPORT_COLUMNS, Store, StoreError, open_store
from pytest_lmbench.storage.url import default_db_url

__all__ = ["main"]

PROG = "lmbench"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class UsageError(Exception):
    """Wrong arguments: exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print the whole usage; one line is easier to act on.
        raise UsageError(f"{self.prog}: {message}")


# --- formatting --------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _delta_pct(before: float | None, after: float | None) -> str:
    if before is None or after is None or before == 0:
        return "—"
    return f"{(after - before) / abs(before) * 100:+.1f}%"


def _when(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "—"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""


# --- commands ----------------------------------------------------------------


def _cmd_runs(store: Store, args: argparse.Namespace) -> int:
    runs = store.list_runs(limit=args.limit)
    if not runs:
        print(f"no runs in {store.url}")
        return 0
    stats = store.run_stats([run.id for run in runs])
    rows = []
    for run in runs:
        s = stats[run.id]
        fail = s["failed"] + s["error"]
        counts = [s["models"], s["results"], s["passed"], fail, s["skipped"]]
        rows.append([run.id[:8], _when(run.started_at), run.status, run.backend, *map(str, counts)])
    headers = ["ID", "STARTED (UTC)", "STATUS", "BACKEND", "MODELS", "RESULTS", "PASS", "FAIL"]
    print(_table([*headers, "SKIP"], rows))
    return 0


def _result_line(result: ResultEntry) -> str:
    parts = [result.outcome.upper().ljust(7), result.model, result.nodeid]
    quality = number(result.metrics.get("quality_score"))
    if quality is not None:
        parts.append(f"quality={quality:.3g}")
    decode = timing_figure(result.timing, "decode_tps")
    if decode is not None:
        parts.append(f"decode={decode:.4g} tok/s")
    ttft = timing_figure(result.timing, "ttft_s")
    if ttft is not None:
        parts.append(f"ttft={ttft:.3g} s")
    if result.error:
        parts.append(f"— {_first_line(result.error)[:160]}")
    return "  ".join(parts)


def _cmd_show(store: Store, args: argparse.Namespace) -> int:
    report = store.load_report(args.run)
    run = report.run
    print(f"run {run.id} ({run.status})")
    print(f"  started      {run.started_at}")
    print(f"  finished     {run.finished_at or '—'}")
    print(f"  backend      {run.backend} at {run.base_url}")
    print(f"  plugin       {run.plugin_version}")
    print(f"  fingerprint  {run.fingerprint or '—'}")
    print(f"models ({len(report.models)}):")
    for model in report.models:
        quant = model.metadata.get("quantization")
        extra = f"  {quant}" if isinstance(quant, str) else ""
        error = f"  — {_first_line(model.error)}" if model.error else ""
        print(f"  {model.key}  {model.status}{extra}{error}")
    print(f"results ({len(report.results)}):")
    for result in report.results:
        print(f"  {_result_line(result)}")
    return 0


def _cmd_report(store: Store, args: argparse.Namespace) -> int:
    # Imported here: the report writers pull in Jinja2 and charts, which the
    # other commands do not need.
    from pytest_lmbench.reporting.writer import write_reports
    from pytest_lmbench.vocabulary import FORMATS

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(
            f"{PROG} report: --formats takes {','.join(FORMATS)}, not {args.formats!r}"
        )
    report = store.load_report(args.run)
    paths = write_reports(report, Path(args.output), formats, history=store.report_history(report))
    for path in paths:
        print(path)
    return 0


def _compare_row(a: ResultEntry, b: ResultEntry) -> list[str]:
    row = [a.nodeid, a.model]
    figures = (
        (timing_figure(a.timing, "decode_tps"), timing_figure(b.timing, "decode_tps"), 4),
        (timing_figure(a.timing, "ttft_s"), timing_figure(b.timing, "ttft_s"), 3),
        (number(a.metrics.get("quality_score")), number(b.metrics.get("quality_score")), 3),
    )
    for before, after, digits in figures:
        row += [_fmt(before, digits), _fmt(after, digits), _delta_pct(before, after)]
    return row


def _cmd_compare(store: Store, args: argparse.Namespace) -> int:
    first, second = store.load_report(args.run_a), store.load_report(args.run_b)
    later = {(r.model, r.nodeid): r for r in second.results}
    pairs = [(r, later[(r.model, r.nodeid)]) for r in first.results if (r.model, r.nodeid) in later]
    print(f"A = {first.run.id} ({_when(first.run.started_at)})")
    print(f"B = {second.run.id} ({_when(second.run.started_at)})")
    if not pairs:
        print("no item is in both runs")
        return 0
    headers = ["ITEM", "MODEL", "DECODE A", "DECODE B", "Δ", "TTFT A", "TTFT B", "Δ"]
    headers += ["QUALITY A", "QUALITY B", "Δ"]
    print(_table(headers, [_compare_row(a, b) for a, b in pairs]))
    only_a, only_b = len(first.results) - len(pairs), len(second.results) - len(pairs)
    print(f"{len(pairs)} items in both; {only_a} only in A, {only_b} only in B")
    return 0


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # a spreadsheet would run it as a formula
    return value


def _export_text(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows([_csv_cell(row[column]) for column in EXPORT_COLUMNS] for row in rows)
    return buffer.getvalue()


def _cmd_export(store: Store, args: argparse.Namespace) -> int:
    text = _export_text(store.export_rows(args.run), args.format)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise StoreError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
    print(args.output)
    return 0


# --- parser and entry point --------------------------------------------------

Command = Callable[[Store, argparse.Namespace], int]


def _parser() -> _Parser:
    parser = _Parser(prog=PROG, description="Browse and report stored pytest-lmbench runs.")
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: $LMBENCH_DB, else results.db under "
        "$XDG_DATA_HOME/pytest-lmbench)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    runs = sub.add_parser("runs", help="list runs, newest first")
    runs.add_argument("--limit", type=int, default=50, help="how many runs (default 50)")
    runs.set_defaults(handler=_cmd_runs)
    show = sub.add_parser("show", help="one run: header and a line per result")
    show.add_argument("run", metavar="RUN")
    show.set_defaults(handler=_cmd_show)
    report = sub.add_parser("report", help="rebuild a run's reports from the store")
    report.add_argument("run", metavar="RUN")
    report.add_argument("--output", required=True, metavar="DIR")
    report.add_argument("--formats", default="json,html,csv", help="default: json,html,csv")
    report.set_defaults(handler=_cmd_report)
    compare = sub.add_parser("compare", help="speed and quality of the items two runs share")
    compare.add_argument("run_a", metavar="RUN_A")
    compare.add_argument("run_b", metavar="RUN_B")
    compare.set_defaults(handler=_cmd_compare)
    export = sub.add_parser("export", help="result rows as CSV or JSON")
    export.add_argument("--format", required=True, choices=("csv", "json"))
    export.add_argument("--run", metavar="RUN", help="one run (default: all runs)")
    export.add_argument("--output", metavar="FILE", help="default: stdout")
    export.set_defaults(handler=_cmd_export)
    sub.add_parser("schema", help="the JSON Schema of the JSON report (no database needed)")
    return parser


def _fail(message: str, status: int) -> int:
    print(message if message.startswith(PROG) else f"{PROG}: {message}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _fail(str(exc), 2)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    if args.command is None:
        return _fail(f"{PROG}: choose a command: runs, show, report, compare, export, schema", 2)
    if args.command == "schema":
        print(json.dumps(report_json_schema(), indent=2))
        return 0
    handler: Command = args.handler
    try:
        url = args.db or os.environ.get("LMBENCH_DB") or default_db_url()
        with open_store(url) as store:
            return handler(store, args)
    except UsageError as exc:
        return _fail(str(exc), 2)
    except StoreError as exc:
        return _fail(str(exc), 1)
    except OSError as exc:  # e.g. an unwritable report folder
        return _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), 1)
