"""``lmbench``: browse, compare, re-report and export stored benchmark runs.

    lmbench [--db URL] [-w] runs [--limit N]
    lmbench show RUN
    lmbench report RUN --output DIR [--formats json,html,csv]
    lmbench compare RUN_A RUN_B
    lmbench export --format csv|json [--run RUN] [--output FILE]
    lmbench serve [--host 127.0.0.1] [--port 8080] [--token T] [--read-only] [--runs-dir DIR]

RUN is a run id or a unique prefix of one. ``--db`` and ``-w`` go before or
after the command. The database is ``--db``, else ``$LMBENCH_DB``, else
``./lmbench-results/results.db`` when there is one (the demo's; a note on
stderr says so), else the default SQLite file. No command but ``serve`` (which
waits for runs to arrive) creates a database.
Lines fit 100 columns (long item ids are shortened in the middle) unless
``-w``. Exit status: 0 ok, 1 store or file error, 2 usage error or no
database; an error is one line on stderr.
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
from pytest_lmbench.storage.reading import NoStoreError, open_existing_store
from pytest_lmbench.storage.store import EXPORT_COLUMNS, Store, StoreError
from pytest_lmbench.storage.url import default_db_url

__all__ = ["main"]

PROG = "lmbench"
# A terminal's customary width; -w lifts it for logs and wide screens.
WIDTH_CHARS = 100
# Where `tox -e demo` (and a run given --lm-db=sqlite:///lmbench-results/results.db) stores.
LOCAL_STORE = Path("lmbench-results") / "results.db"
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


def _elide(text: str, width: int) -> str:
    """``text`` cut in the middle: an item id keeps its capability and its case and model."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def _cut(text: str, width: int | None) -> str:
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None) -> str:
    """Aligned columns; the first (the item id) is shortened until the table fits ``width``."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    total = sum(widths) + 2 * (len(widths) - 1)
    if width is not None and total > width:
        widths[0] = max(len(headers[0]), 12, widths[0] - (total - width))
    lines = [[_elide(str(line[0]), widths[0]), *line[1:]] for line in [headers, *rows]]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _width(args: argparse.Namespace) -> int | None:
    return None if getattr(args, "wide", False) else WIDTH_CHARS


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
    print(_table([*headers, "SKIP"], rows, _width(args)))
    return 0


def _result_line(result: ResultEntry, width: int | None) -> str:
    """Outcome, item id (it names the model), figures, then the error's first line."""
    parts = []
    quality = number(result.metrics.get("quality_score"))
    if quality is not None:
        parts.append(f"quality={quality:.3g}")
    decode = timing_figure(result.timing, "decode_tps")
    if decode is not None:
        parts.append(f"decode={decode:.4g} tok/s")
    ttft = timing_figure(result.timing, "ttft_s")
    if ttft is not None:
        parts.append(f"ttft={ttft:.3g} s")
    head = result.outcome.upper().ljust(7)
    figures = "  ".join(parts)
    error = f"— {_first_line(result.error)}" if result.error else ""
    if width is None:
        return "  ".join(p for p in (head, result.nodeid, figures, error) if p)
    room = width - len(head) - 2 - len(figures) - (2 if figures else 0)
    # The id first gives way down to a readable length, then the error is cut.
    item = _elide(result.nodeid, max(24, min(len(result.nodeid), room - len(error) - 2)))
    line = "  ".join(p for p in (head, item, figures) if p)
    return _cut(f"{line}  {error}" if error else line, width)


def _cmd_show(store: Store, args: argparse.Namespace) -> int:
    report = store.load_report(args.run)
    run, width = report.run, _width(args)
    print(f"run {run.id} ({run.status})")
    print(f"  started      {run.started_at}")
    print(f"  finished     {run.finished_at or '—'}")
    print(_cut(f"  backend      {run.backend} at {run.base_url}", width))
    print(f"  plugin       {run.plugin_version}")
    print(f"  fingerprint  {run.fingerprint or '—'}")
    print(f"models ({len(report.models)}):")
    for model in report.models:
        quant = model.metadata.get("quantization")
        extra = f"  {quant}" if isinstance(quant, str) else ""
        error = f"  — {_first_line(model.error)}" if model.error else ""
        print(_cut(f"  {model.key}  {model.status}{extra}{error}", width))
    print(f"results ({len(report.results)}):")
    inner = None if width is None else width - 2
    for result in report.results:
        print(f"  {_result_line(result, inner)}")
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
    row = [a.nodeid]
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
    # The item id names the model; short headers leave the id room within 100 columns.
    headers = ["ITEM", "DECODE A", "B", "Δ", "TTFT A", "B", "Δ", "QUALITY A", "B", "Δ"]
    print(_table(headers, [_compare_row(a, b) for a, b in pairs], _width(args)))
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


def _shared() -> _Parser:
    """The options accepted before and after the command (SUPPRESS: one never hides the other)."""
    shared = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    shared.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: $LMBENCH_DB, else ./lmbench-results/results.db when "
        "present, else results.db under $XDG_DATA_HOME/pytest-lmbench)",
    )
    shared.add_argument(
        "-w", "--wide", action="store_true", help=f"do not fit lines to {WIDTH_CHARS} columns"
    )
    return shared


def _parser() -> _Parser:
    shared = _shared()
    parser = _Parser(
        prog=PROG, description="Browse and report stored pytest-lmbench runs.", parents=[shared]
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    runs = sub.add_parser("runs", help="list runs, newest first", parents=[shared])
    runs.add_argument("--limit", type=int, default=50, help="how many runs (default 50)")
    runs.set_defaults(handler=_cmd_runs)
    show = sub.add_parser("show", help="one run: header and a line per result", parents=[shared])
    show.add_argument("run", metavar="RUN")
    show.set_defaults(handler=_cmd_show)
    report = sub.add_parser(
        "report", help="rebuild a run's reports from the store", parents=[shared]
    )
    report.add_argument("run", metavar="RUN")
    report.add_argument("--output", required=True, metavar="DIR")
    report.add_argument("--formats", default="json,html,csv", help="default: json,html,csv")
    report.set_defaults(handler=_cmd_report)
    compare = sub.add_parser(
        "compare", help="speed and quality of the items two runs share", parents=[shared]
    )
    compare.add_argument("run_a", metavar="RUN_A")
    compare.add_argument("run_b", metavar="RUN_B")
    compare.set_defaults(handler=_cmd_compare)
    export = sub.add_parser("export", help="result rows as CSV or JSON", parents=[shared])
    export.add_argument("--format", required=True, choices=("csv", "json"))
    export.add_argument("--run", metavar="RUN", help="one run (default: all runs)")
    export.add_argument("--output", metavar="FILE", help="default: stdout")
    export.set_defaults(handler=_cmd_export)
    sub.add_parser("schema", help="the JSON Schema of the JSON report (no database needed)")
    serve = sub.add_parser(
        "serve", help="web dashboard and JSON API (extra [dashboard])", parents=[shared]
    )
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (loopback)")
    serve.add_argument("--port", type=int, default=8080, help="default 8080")
    serve.add_argument(
        "--token",
        default=os.environ.get("LMBENCH_DASHBOARD_TOKEN"),
        help="needed to start and stop runs (default: $LMBENCH_DASHBOARD_TOKEN, else a "
        "random one printed at start); required for a non-loopback --host",
    )
    serve.add_argument("--read-only", action="store_true", help="no starting or stopping runs")
    serve.add_argument(
        "--runs-dir",
        default=str(Path("lmbench-results") / "runs"),
        help="where started runs write their reports (default lmbench-results/runs)",
    )
    return parser


def _serve(args: argparse.Namespace) -> int:
    try:
        from pytest_lmbench.dashboard.security import Access
        from pytest_lmbench.dashboard.server import serve
    except ImportError as exc:
        return _fail(
            f"serve needs the dashboard extra ({exc.name} is missing): "
            "pip install 'pytest-lmbench[dashboard]'",
            2,
        )
    try:
        access = Access.for_host(args.host, args.token, read_only=args.read_only)
    except ValueError as exc:
        return _fail(str(exc), 2)
    try:
        return serve(
            _store_url(args), access, host=args.host, port=args.port, runs_dir=Path(args.runs_dir)
        )
    except StoreError as exc:
        return _fail(str(exc), 1)


def _fail(message: str, status: int) -> int:
    print(message if message.startswith(PROG) else f"{PROG}: {message}", file=sys.stderr)
    return status


def _store_url(args: argparse.Namespace) -> str:
    given = getattr(args, "db", None) or os.environ.get("LMBENCH_DB")
    if given:
        return str(given)
    if LOCAL_STORE.is_file():
        # The demo stores here; reading the default store instead would show other runs.
        print(f"{PROG}: reading ./{LOCAL_STORE} (found here; --db for another)", file=sys.stderr)
        return f"sqlite:///{LOCAL_STORE.absolute()}"
    return default_db_url(create_folder=False)


def main(argv: list[str] | None = None) -> int:
    try:
        status = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        # The reader (e.g. head) has what it wanted: end quietly, as cat does. Point
        # stdout at devnull so the final flush at exit cannot complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return status


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _fail(str(exc), 2)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    if args.command is None:
        return _fail(
            f"{PROG}: choose a command: runs, show, report, compare, export, schema, serve", 2
        )
    if args.command == "schema":
        print(json.dumps(report_json_schema(), indent=2))
        return 0
    if args.command == "serve":
        return _serve(args)
    handler: Command = args.handler
    try:
        with open_existing_store(_store_url(args)) as store:
            return handler(store, args)
    except (UsageError, NoStoreError) as exc:
        return _fail(str(exc), 2)
    except StoreError as exc:
        return _fail(str(exc), 1)
    except BrokenPipeError:
        raise  # not a file error: main ends quietly
    except OSError as exc:  # e.g. an unwritable report folder
        return _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), 1)
