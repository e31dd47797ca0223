"""The command line's own contract: a user's mistake is one line that names the closest right
answer (exit status 2); a bug in the library keeps its traceback."""

import pytest

import kerasarch.cli as cli


def _error(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("kerasarch: error: ") and err.count("\n") == 1, err
    return err


def test_list_prints_each_models_contract(capsys):
    assert cli.main(["list", "resnet2*"]) == 0
    assert capsys.readouterr().out.split() == ["resnet20", "resnet", "32x32x3", "->", "probabilities[10]"]
    assert cli.main(["list", "transformer_text_t*"]) == 0
    assert "tokens<=512 -> probabilities[2]" in capsys.readouterr().out


def test_unknown_names_suggest_the_closest(capsys):
    assert "'resnet50'" in _error(["summary", "resnet5", "--no-macs"], capsys)
    assert "Did you mean" in _error(["list", "resnxt*"], capsys)
    err = _error(["plot", "resnet2"], capsys)
    assert "Did you mean" in err and "'resnet20'" in err


def test_a_library_bug_is_not_reported_as_a_user_mistake(monkeypatch):
    def broken(args):
        raise TypeError("an internal bug")

    monkeypatch.setattr(cli, "_list", broken)
    with pytest.raises(TypeError, match="an internal bug"):
        cli.main(["list"])
    monkeypatch.setattr(cli, "_list", lambda args: {}["missing"])
    with pytest.raises(KeyError):
        cli.main(["list"])
