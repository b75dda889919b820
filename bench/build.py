"""Build speed: full build of 1,000 synthetic issues, then the rebuilds the build cache makes
cheap (one issue added, nothing changed, one issue edited), each as a fraction of the full
build against its target; then a fresh build of the same sources, which the incremental
tree must equal byte for byte; and the seed edition's warm full build. Prints times, ratios
and the process's peak RSS measured in this run.

    python bench/build.py [--issues 1000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from publisher.config import Config, PathsConfig, load_config
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


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def edit_issue(folder: Path, number: int) -> None:
    path = folder / f"issue-{number:05d}.md"
    path.write_text(path.read_text(encoding="utf-8").replace(
        f"Intro {number}.", f"Intro {number}, corrected."), encoding="utf-8")


def tree(folder: Path) -> dict[str, bytes]:
    """Every published file (the build's private .cache/ aside) with its bytes."""
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file() and ".cache" not in path.relative_to(folder).parts}


def site_config(base: Config, issues: Path, output: Path) -> Config:
    paths = PathsConfig(issues=str(issues), output=str(output),
                        templates=str(REPO / "templates"))
    return replace(base, settings=base.settings.model_copy(update={"paths": paths}))


def rebuilds(base: Config, root: Path, count: int) -> dict[str, float]:
    """Seconds of each build of the synthetic site, and whether the tree is a fresh one's."""
    issues = root / "issues"
    issues.mkdir()
    for number in range(count):
        write_issue(issues, number)
    config = site_config(base, issues, root / "public")
    times = {"full": timed(lambda: build_site(config, NOW))}
    times["rss_full"] = peak_rss_mib()
    write_issue(issues, count)
    times["added"] = timed(lambda: build_site(config, NOW))
    times["unchanged"] = timed(lambda: build_site(config, NOW))
    edit_issue(issues, count // 2)
    times["edited"] = timed(lambda: build_site(config, NOW))
    times["rss_rebuilds"] = peak_rss_mib()
    # A fresh build into an empty folder, given only the history of when each issue's words
    # changed (an entry's `updated`, an input of every build, not a cache).
    fresh = site_config(base, issues, root / "fresh")
    (fresh.output_dir / ".cache").mkdir(parents=True)
    shutil.copy(config.output_dir / ".cache" / "manifest.json", fresh.output_dir / ".cache")
    build_site(fresh, NOW)
    times["identical"] = float(tree(config.output_dir) == tree(fresh.output_dir))
    return times


def seed_builds(base: Config, root: Path) -> tuple[float, float]:
    """The seed edition's first build in this process, and its best warm full build."""
    seed_out = root / "seed"
    seed = site_config(base, REPO / "issues", seed_out)
    cold_seed = timed(lambda: build_site(seed, NOW))
    warm_runs = []
    for _ in range(5):
        shutil.rmtree(seed_out)
        warm_runs.append(timed(lambda: build_site(seed, NOW)))
    return cold_seed, min(warm_runs)


def verdict(value: float, target: float) -> str:
    return "met" if value < target else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=1000)
    count = parser.parse_args().issues
    base = load_config(REPO)
    with tempfile.TemporaryDirectory() as tmp:
        times = rebuilds(base, Path(tmp), count)
        cold_seed, warm_seed = seed_builds(base, Path(tmp))
    full = times["full"]
    print(f"{'measure':<52} {'seconds':>9}")
    print(f"{f'full build, {count} issues (baseline)':<52} {full:>9.3f}")
    for name, label, target in (("added", "incremental build, one issue added", 0.05),
                                ("unchanged", "rebuild, nothing changed", 0.02),
                                ("edited", "incremental build, one issue edited", 0.05)):
        ratio = times[name] / full
        print(f"{label:<52} {times[name]:>9.3f}   {ratio:.4f} of full "
              f"(target < {target}: {verdict(ratio, target)})")
    print(f"{'seed edition full build, first in process':<52} {cold_seed:>9.3f}")
    print(f"{'seed edition full build, warm (best of 5)':<52} {warm_seed:>9.3f}")
    print(f"seed warm build {warm_seed:.3f} s vs target 0.3 s: {verdict(warm_seed, 0.3)}")
    print("incremental tree vs a fresh build of the same sources: "
          + ("byte-identical" if times["identical"] else "DIFFERENT"))
    print(f"peak RSS: {times['rss_full']:.0f} MiB after the full build, "
          f"{times['rss_rebuilds']:.0f} MiB after the rebuilds")


if __name__ == "__main__":
    main()
