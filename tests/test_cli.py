from aethyr_domain.cli import main


def test_demo_runs(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "install works" in out
    assert "reloaded 'torch'" in out
