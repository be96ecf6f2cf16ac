"""config.toml: one typed model, checked when a home opens, each mistake one line naming the key; the documented table."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from leian.cli import cli
from leian.errors import ConfigError
from leian.home import Home
from leian.settings import Settings, settings_table

ROOT = Path(__file__).resolve().parent.parent


def _home(tmp_path: Path, config: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(config, encoding="utf-8")
    return home


def test_the_documented_table_is_the_model():
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    documented = re.search(r"<!-- settings-table -->\n(.*?)\n<!-- /settings-table -->", text, re.S).group(1)
    assert documented == settings_table(), "docs/settings.md is out of date: paste `python -m leian.settings` into it"
    # Every key of every section has a row.
    keys = {f"[{section}] {key}" for section, field in Settings.model_fields.items() for key in field.annotation.model_fields}
    assert keys == set(re.findall(r"^\| `(\[\w+\] \w+)`", documented, re.M))


def test_no_config_gives_the_defaults_and_a_config_is_read(tmp_path):
    assert Home.resolve(tmp_path).settings == Settings()
    model_folder = tmp_path / "models" / "bge"
    model_folder.mkdir(parents=True)
    home = Home.resolve(_home(tmp_path, f'[embeddings]\nmodel = "{model_folder}"\n[repeats]\nrespondent_min_cases = 4\n'
                                         '[graph]\nsimilar_threshold = 1\n[library]\nself_review = true\n'))
    assert home.settings.embeddings.model == str(model_folder)
    assert (home.settings.repeats.respondent_min_cases, home.settings.repeats.group_window_days) == (4, 30)
    assert home.settings.graph.similar_threshold == 1.0 and home.settings.library.self_review is True


@pytest.mark.parametrize("config, expected", [
    ('[embeddings]\nmodel = "no-such-model"\n', "[embeddings] model 不是可用的模型：'no-such-model'"),
    ('[embeddings]\nruntime = "tensorflow"\n', "[embeddings] runtime 须为 'onnx'、'torch' 之一（实为 'tensorflow'）"),
    ('[search]\nindex_kind = "hnsw"\n', "[search] index_kind 须为 'auto'、'flat'、'ivf' 之一（实为 'hnsw'）"),
    ('[search]\nnprobe = "8"\n', "[search] nprobe 须为整数（实为 '8'）"),
    ('[graph]\nuri = "http://graph:7474"\n', "[graph] uri 须为 Bolt 地址"),
    ('[display]\ntimezone = "Mars/Olympus"\n', "[display] timezone 未知的时区 'Mars/Olympus'"),
    ('[repeats]\nrespondent_min_cases = 0\n', "[repeats] respondent_min_cases 须大于 0（实为 0）"),
    ('[repeats]\nrespondent_min = 2\n', "[repeats] respondent_min 不是可用的设置（可用：respondent_min_cases"),
    ('[serach]\nindex_kind = "flat"\n', "[serach] 不是可用的设置（可用：embeddings、search"),
    ('[embeddings\nmodel = 1\n', "配置文件格式有误，第 1 行第 12 列：表名后面缺少“]”"),
    ('[display]\ntimezone = Asia/Shanghai\n', "配置文件格式有误，第 2 行第 12 列：值无效（文字须加引号，如 \"Asia/Shanghai\"）"),
])
def test_a_bad_setting_is_one_line_naming_the_key(tmp_path, config, expected):
    home = _home(tmp_path, config)
    with pytest.raises(ConfigError, match=re.escape(expected)):
        Home.resolve(home)
    result = CliRunner().invoke(cli, ["--home", str(home), "stats"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"错误：{home / 'config.toml'}") and expected in lines[0], result.output
    assert "Traceback" not in result.output


def test_every_problem_of_the_file_is_named_at_once(tmp_path):
    home = _home(tmp_path, '[library]\nself_review = "yes"\n[repeats]\ngroup_min_claimants = -1\ngroup_window_days = 3.5\n')
    with pytest.raises(ConfigError) as raised:
        Home.resolve(home)
    message = str(raised.value)
    assert "\n" not in message and message.count("；") == 2
    for key in ("[library] self_review 须为 true 或 false", "[repeats] group_min_claimants 须大于 0",
                "[repeats] group_window_days 须为整数"):
        assert key in message


def test_repeat_settings_from_the_file_reach_the_command(tmp_path):
    """[repeats] respondent_min_cases = 4: a respondent with three claimants is no longer a chain."""
    records = [{"id": f"W{i}", "text": "拖欠工资", "occurred_on": f"2025-0{i}-10",
                "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "三灶镇"},
                "parties": [{"name": f"工人{i}", "role": "申请人", "phone": f"1370000000{i}"},
                            {"name": "珠海市恒达建筑劳务有限公司", "role": "被申请人", "kind": "organization"}]}
               for i in range(1, 4)]
    source = tmp_path / "cases.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(cli, ["--home", str(home), "ingest", "--no-index", str(source)]).exit_code == 0

    def respondent_chains() -> list:
        result = runner.invoke(cli, ["--home", str(home), "repeats", "--kind", "respondent", "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["chains"]

    assert [c["case_ids"] for c in respondent_chains()] == [["W1", "W2", "W3"]]
    (home / "config.toml").write_text("[repeats]\nrespondent_min_cases = 4\n", encoding="utf-8")
    assert respondent_chains() == []
