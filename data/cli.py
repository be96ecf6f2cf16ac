"""Commands owned by the data package: ``leian generate``."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import click

from leian.clitools import echo_json, progress_default

__all__ = ["generate"]


@click.command()
@click.option("--n", "n", required=True, type=click.IntRange(1, 10_000_000), help="How many records to write.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed: the same seed gives the same bytes.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Records file to write (JSON Lines).")
@click.option("--truth", type=click.Path(dir_okay=False), help="Also write the planted ground truth to this JSON file.")
@click.option("--profile", type=click.Path(dir_okay=False),
              help="JSON or TOML file overriding the mix of types, channels and outcomes (see docs/generator.md).")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: when stderr is a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def generate(n: int, seed: int, out: str, truth: str | None, profile: str | None, progress: bool | None,
             as_json: bool) -> None:
    """Write N realistic generated mediation records, with planted repeat chains,
    decoys and hotspot spikes, to OUT (and what was planted to --truth)."""
    from leian.data.generate import Profile, generate_to_file

    for target in filter(None, (out, truth)):
        if not Path(target).absolute().parent.is_dir():
            raise click.ClickException(f"{target}: the folder does not exist")
    chosen = None
    if profile:
        try:
            chosen = Profile.from_file(profile)
        except OSError as exc:
            raise click.ClickException(f"{profile}: {exc.strerror or exc}") from None
        except (ValueError, TypeError, tomllib.TOMLDecodeError) as exc:
            # JSONDecodeError is a ValueError; TypeError comes from a value of the wrong shape.
            message = str(exc).splitlines()[0] if not isinstance(exc, json.JSONDecodeError) else f"not valid JSON: {exc}"
            raise click.ClickException(f"{profile}: {message}") from None
    show_progress = progress_default() if progress is None else progress
    report = generate_to_file(out, n, seed, truth_path=truth, profile=chosen, progress=show_progress)
    if as_json:
        echo_json(report.to_dict())
        return
    click.echo(f"wrote {report.records} records to {report.path} in {report.seconds:.1f}s")
    if report.truth_path:
        click.echo(f"truth: {report.chains} repeat chains, {report.decoys} decoy groups, "
                   f"{report.spikes} spikes in {report.truth_path}")
