"""Build speed: full build of 1,000 synthetic issues, then one added issue (incremental),
and the seed edition's warm full build. Prints times and ratios measured in this run.

    python bench/build.py [--issues 1000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from publisher.config import PathsConfig, load_config
from publisher.site.build import build_site

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2030, 1, 1, tzinfo=UTC)
BODY = "\n\n".join(
    f"## Section {s}\n\n" + "\n\n".join(
        f"### {s}.{p} A paper title about models\n\n" + "A summary paragraph. " * 30
        + f"\n\n<https://arxiv.org/abs/2406.{s:02d}{p:03d}>" for p in range(1, 6))
    for s in range(1, 4))


def write_issue(folder: Path, number: int) -> None:
    day = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=number)
    (folder / f"issue-{number:05d}.md").write_text(
        f'---\ntitle: "Issue {number}"\ndate: {day.isoformat()}\nsummary: "Issue {number}"\n'
        f"tags: [t{number % 7}]\nlanguage: en\n---\n\nIntro {number}.\n\n{BODY}\n",
        encoding="utf-8")


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=1000)
    count = parser.parse_args().issues
    base = load_config(REPO)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        issues = root / "issues"
        issues.mkdir()
        for number in range(count):
            write_issue(issues, number)
        paths = PathsConfig(issues=str(issues), output=str(root / "public"),
                            templates=str(REPO / "templates"))
        config = replace(base, settings=base.settings.model_copy(update={"paths": paths}))
        full = timed(lambda: build_site(config, NOW))
        write_issue(issues, count)
        incremental = timed(lambda: build_site(config, NOW))
        unchanged = timed(lambda: build_site(config, NOW))

        seed_out = root / "seed"
        seed_paths = PathsConfig(issues=str(REPO / "issues"), output=str(seed_out),
                                 templates=str(REPO / "templates"))
        seed = replace(base, settings=base.settings.model_copy(update={"paths": seed_paths}))
        cold_seed = timed(lambda: build_site(seed, NOW))
        warm_runs = []
        for _ in range(5):
            shutil.rmtree(seed_out)
            warm_runs.append(timed(lambda: build_site(seed, NOW)))
        warm_seed = min(warm_runs)

    print(f"{'measure':<52} {'seconds':>9}")
    print(f"{f'full build, {count} issues (baseline)':<52} {full:>9.3f}")
    print(f"{'incremental build, one issue added':<52} {incremental:>9.3f}")
    print(f"{'rebuild, nothing changed':<52} {unchanged:>9.3f}")
    print(f"{'seed edition full build, first in process':<52} {cold_seed:>9.3f}")
    print(f"{'seed edition full build, warm (best of 5)':<52} {warm_seed:>9.3f}")
    print(f"ratio incremental/full = {incremental / full:.3f}  (target: a small fraction)")
    print(f"seed warm build {warm_seed:.3f} s vs target 0.3 s: "
          f"{'met' if warm_seed < 0.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
