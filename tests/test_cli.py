from aethyr_domain.cli.entry import main


def test_demo_runs(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "world rebuilt from the events matches the live world: yes" in out
    assert "outbox delivered everything: yes" in out
