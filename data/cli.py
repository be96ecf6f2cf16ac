"""Commands owned by the data package: ``leian generate``."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import click

from leian.clitools import echo_json, json_option, os_error_text, progress_default

__all__ = ["generate"]


@click.command()
@click.option("--n", "n", required=True, type=click.IntRange(1, 10_000_000), help="生成多少条记录。")
@click.option("--seed", default=0, show_default=True, type=int, help="随机种子：同一种子生成完全相同的文件。")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="写入记录的文件（JSON Lines）。")
@click.option("--truth", type=click.Path(dir_okay=False), help="同时把埋设的真实答案写入此 JSON 文件。")
@click.option("--profile", type=click.Path(dir_okay=False),
              help="覆盖类型、来源渠道和调解结果比例的 JSON 或 TOML 文件（见 docs/generator.md）。")
@click.option("--progress/--no-progress", default=None, help="显示进度条（默认：在终端中运行时显示）。")
@json_option("以一个 JSON 对象输出汇总。")
def generate(n: int, seed: int, out: str, truth: str | None, profile: str | None, progress: bool | None,
             as_json: bool) -> None:
    """生成 N 条逼真的调解记录写入 OUT，其中埋设重复纠纷链、干扰项和热点激增（埋设内容写入 --truth）。"""
    from leian.data.generate import Profile, generate_to_file
    from leian.data.readers import json_error_text
    from leian.home import toml_error_text

    for target in filter(None, (out, truth)):
        if not Path(target).absolute().parent.is_dir():
            raise click.ClickException(f"{target}：所在文件夹不存在")
    chosen = None
    if profile:
        try:
            chosen = Profile.from_file(profile)
        except OSError as exc:
            raise click.ClickException(f"{profile}：无法读取：{os_error_text(exc)}") from None
        except tomllib.TOMLDecodeError as exc:
            raise click.ClickException(f"{profile}：不是有效的 TOML，{toml_error_text(exc)}") from None
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{profile}：不是有效的 JSON，{json_error_text(exc)}") from None
        except (ValueError, TypeError) as exc:  # TypeError comes from a value of the wrong shape
            raise click.ClickException(f"{profile}：{str(exc).splitlines()[0]}") from None
    show_progress = progress_default() if progress is None else progress
    report = generate_to_file(out, n, seed, truth_path=truth, profile=chosen, progress=show_progress)
    if as_json:
        echo_json(report.to_dict())
        return
    click.echo(f"已写入 {report.records} 条记录到 {report.path}，用时 {report.seconds:.1f} 秒")
    if report.truth_path:
        click.echo(f"真实答案：{report.chains} 条重复纠纷链，{report.decoys} 组干扰项，"
                   f"{report.spikes} 处激增，已写入 {report.truth_path}")
