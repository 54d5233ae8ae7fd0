"""Each escaping filter, for arbitrary text: refused, or read back exactly by the file's parser.

Property-based (hypothesis, seeded through `derandomize`): the filters are the last line of
defence behind the spec's grammars, so they are tested on text no grammar would let through.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import libconf
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.errors import RenderError
from lab.escape import (comment_text, galera_options, keepalived_word, libconfig_str, mycnf, php_str, sql_str,
                        yaml_str)
from tests.parsers import compose_unescape, galera_provider_options, read_option_file

SETTINGS = settings(max_examples=200, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# every code point a Python str can hold, surrogates included; plus the characters that matter
TEXT = st.text(st.one_of(st.characters(), st.sampled_from('\n\r\t\x00"\'\\;=#$[]{}?><!')), max_size=40)
PHP = shutil.which("php")
GALERA_IMAGE = "galera-lab/mariadb:10.11-bookworm"


def _either(filter_, text: str) -> str | None:
    """The filter's output, or None when it refused with a one-line RenderError."""
    try:
        return filter_(text)
    except RenderError as exc:
        assert "\n" not in str(exc)
        return None


@SETTINGS
@given(TEXT)
def test_mycnf_reads_back_or_refuses(text: str) -> None:
    out = _either(mycnf, text)
    if out is not None:
        assert read_option_file(f"[mysqld]\nopt = {out}\nnext = 1\n") == {"mysqld": [("opt", text), ("next", "1")]}


@SETTINGS
@given(st.dictionaries(TEXT.filter(lambda k: k.strip() == k and k), TEXT.map(str.strip), max_size=5))
def test_galera_options_read_back_or_refuse(options: dict[str, str]) -> None:
    out = _either(lambda o: mycnf(galera_options(o)), options)
    if out is not None:
        (name, value), = read_option_file(f"[mysqld]\nwsrep_provider_options = {out}\n")["mysqld"]
        assert galera_provider_options(value or "") == options


@SETTINGS
@given(TEXT)
def test_libconfig_reads_back_or_refuses(text: str) -> None:
    out = _either(libconfig_str, text)
    if out is not None:
        assert libconf.loads(f"a = {out};\nb = 1;\n") == {"a": text, "b": 1}


@SETTINGS
@given(TEXT)
def test_yaml_reads_back_or_refuses(text: str) -> None:
    out = _either(yaml_str, text)
    if out is not None:
        doc = yaml.safe_load(f"a: {out}\nb: 1\n")
        assert set(doc) == {"a", "b"} and compose_unescape(doc["a"]) == text


@SETTINGS
@given(TEXT)
def test_sql_literal_is_one_token(text: str) -> None:
    out = _either(sql_str, text)
    if out is not None:
        import re
        assert re.fullmatch(r"'(?:[^'\\]|\\.)*'", out, re.S)
        back = {"0": "\0", "n": "\n", "r": "\r", "Z": "\x1a"}
        assert re.sub(r"\\(.)", lambda m: back.get(m.group(1), m.group(1)), out[1:-1], flags=re.S) == text


@SETTINGS
@given(TEXT)
def test_keepalived_word_and_comment(text: str) -> None:
    out = _either(keepalived_word, text)
    assert out is None or out.split() == [text] and not set(text) & set('#!{}"')
    assert "\n" not in comment_text(text) and "?>" not in comment_text(text)


@pytest.mark.skipif(PHP is None, reason="php-cli is not installed (apt-get install php-cli)")
@settings(max_examples=25, derandomize=True, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=12))
def test_php_reads_back_or_refuses(tmp_path_factory: pytest.TempPathFactory, texts: list[str]) -> None:
    """One php run per example for a batch of strings: `php -l` passes and PHP reads them back."""
    kept = [(t, out) for t in texts if (out := _either(php_str, t)) is not None]
    path = tmp_path_factory.mktemp("php") / "t.php"
    path.write_text("<?php\n// " + comment_text("".join(texts)) + "\nreturn [" + ", ".join(o for _, o in kept) + "];\n")
    assert subprocess.run([PHP, "-l", str(path)], capture_output=True).returncode == 0
    code = f"echo json_encode(array_map('bin2hex', require {json.dumps(str(path))}));"
    out = subprocess.run([PHP, "-r", code], capture_output=True, text=True, check=True).stdout
    assert [bytes.fromhex(h).decode() for h in json.loads(out)] == [t for t, _ in kept]


def _image_present(tag: str) -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


@pytest.mark.e2e  # runs a container: kept out of the Docker-free unit run
@pytest.mark.skipif(not _image_present(GALERA_IMAGE), reason=f"needs {GALERA_IMAGE} for my_print_defaults")
def test_my_print_defaults_agrees_with_the_port(tmp_path: Path) -> None:
    """MariaDB's own reader, once, on the hostile values of issue 10: the Python port agrees."""
    values = ["64M\nskip-grant-tables", 'x"; y', "it's", "back\\slash", "a#b", "end\\", " lead", "trail ",
              "é ü", '"quoted"', "\\n literal", "tab\there"]
    lines = ["[mysqld]", *(f"opt{i} = {mycnf(v)}" for i, v in enumerate(values)),
             "wsrep_provider_options = " + mycnf(galera_options({"gcache.size": '64M"; pc.ignore_sb=true; x="'}))]
    (tmp_path / "t.cnf").write_text("\n".join(lines) + "\n")
    tmp_path.chmod(0o755)
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", f"{tmp_path / 't.cnf'}:/t.cnf:ro",
                           GALERA_IMAGE, "my_print_defaults", "--defaults-file=/t.cnf", "mysqld"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    port = read_option_file((tmp_path / "t.cnf").read_text())["mysqld"]
    assert proc.stdout == "".join(f"--{k}={v}\n" for k, v in port)
    assert [v for _, v in port[:-1]] == values
    assert galera_provider_options(port[-1][1] or "") == {"gcache.size": '64M"; pc.ignore_sb=true; x="'}
