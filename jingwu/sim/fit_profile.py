"""Fit the drill's call profile on dated records and chart it.

    python -m jingwu.sim.fit_profile --out jingwu/data/call_profile.json --chart docs/drill_profile.png

(records default to the Chicago file shipped in ``jingwu/data``; give another CSV to fit an
agency's own call records: one local date-time per row.)

The shipped profile was fitted on the Chicago aggravated assaults 2010-2019 (City of Chicago open
data via the Crime Open Database, packaged by the crimemappingdata project, MIT licence).
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

from jingwu.sim.charts import profile_chart
from jingwu.sim.profile import WeeklyProfile, fit_weekly_profile

CHICAGO_FILE = "chicago_aggravated_assaults_2010_2019.csv.gz"
CHICAGO_SOURCE = ("Chicago Police Department aggravated assaults 2010-2019: City of Chicago open data via the "
                  "Crime Open Database, packaged by the crimemappingdata project (MIT licence)")


def profile_json_text(profile: WeeklyProfile) -> str:
    """The profile as JSON, one weekday's 24 hours per line so the table reads as a table."""
    data = profile.to_json()
    rows = data.pop("relative_intensity")
    head = json.dumps(data, indent=1, ensure_ascii=False)[:-2]
    body = ",\n".join("  " + json.dumps(row) for row in rows)
    return f'{head},\n "relative_intensity": [\n{body}\n ]\n}}\n'


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", type=Path, nargs="?", default=None,
                        help="CSV (optionally .gz) with a local date-time column (default: the shipped Chicago file)")
    parser.add_argument("--date-column", default="date")
    parser.add_argument("--source", default=CHICAGO_SOURCE, help="where the records come from (kept in the file)")
    parser.add_argument("--out", type=Path, default=Path("jingwu/data/call_profile.json"))
    parser.add_argument("--chart", type=Path, default=None)
    args = parser.parse_args(argv)
    records = args.records or Path(str(resources.files("jingwu.data").joinpath(CHICAGO_FILE)))
    profile = fit_weekly_profile(records, date_column=args.date_column, source=args.source)
    args.out.write_text(profile_json_text(profile), encoding="utf-8")
    print(f"wrote {args.out} ({profile.meta['records']:,} records, {profile.meta['period'][0]} to "
          f"{profile.meta['period'][1]})")
    if args.chart:
        profile_chart(profile, args.chart)
        print(f"wrote {args.chart}")


if __name__ == "__main__":
    main()
