from __future__ import annotations

from pathlib import Path

import pytest

from carbontrail.config import Settings, load_settings
from carbontrail.errors import ConfigError


def test_precedence(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.carbontrail]\nzone = "FR"\npue = 1.2\nbucket_s = 60\n')
    (tmp_path / "carbontrail.toml").write_text('zone = "DE"\npue = 1.3\n')
    s = load_settings(tmp_path, environ={"CARBONTRAIL_PUE": "1.4"})
    assert (s.zone, s.pue, s.bucket_s) == ("DE", 1.4, 60.0)
    assert load_settings(tmp_path, environ={"CARBONTRAIL_PUE": "1.4"}, pue=1.5).pue == 1.5
    assert s.home == tmp_path / ".carbontrail"


def test_env_types(tmp_path: Path) -> None:
    s = load_settings(tmp_path, environ={"CARBONTRAIL_DISABLED": "yes", "CARBONTRAIL_METERS": "rapl, cpu"})
    assert s.disabled is True and s.meters == ("rapl", "cpu")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CARBONTRAIL_PUE": "0.5"}, "pue"),
        ({"CARBONTRAIL_PUE": "nan"}, "finite"),
        ({"CARBONTRAIL_DISABLED": "maybe"}, "disabled"),
        ({"CARBONTRAIL_ATTRIBUTION": "cluster"}, "attribution"),
        ({"CARBONTRAIL_BUCKET_S": "abc"}, "bucket_s"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path, environ=env)


def test_unknown_keys_refused(tmp_path: Path) -> None:
    (tmp_path / "carbontrail.toml").write_text('zonne = "DE"\n')
    with pytest.raises(ConfigError, match="zonne"):
        load_settings(tmp_path, environ={})
    (tmp_path / "carbontrail.toml").write_text("zone = [\n")
    with pytest.raises(ConfigError, match=r"carbontrail\.toml"):
        load_settings(tmp_path, environ={})


def test_frozen_and_replace() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.zone = "DE"  # type: ignore[misc]
    assert s.replace(zone="DE").zone == "DE"
    with pytest.raises(ConfigError):
        s.replace(pue=0.1)
