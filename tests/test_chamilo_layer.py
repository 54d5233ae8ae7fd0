"""The Chamilo release as one image layer (lab/chamilo_layer.py), on a tiny fake tree: no Docker."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

from lab.chamilo_layer import GET_LOCK_LIST, ROOT, WWW_DATA, get_lock_callers, write_layer


def fake_tree(root: Path) -> Path:
    for rel, text in {"index.php": "<?php\n", "main/inc/lib/api.lib.php": "<?php\n",
                      "main/inc/lib/locks.php": "<?php $db->query('SELECT GET_LOCK(\"x\", 1)');\n",
                      "vendor/autoload.php": "<?php\n", "app/courses/.htaccess": "deny\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_layer_is_the_tree_at_var_www_chamilo_owned_by_www_data(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path / "tree")
    (tree / "index.php").chmod(0o664)  # as git archive packs under umask 002
    out = io.BytesIO()
    diff_id = write_layer(tree, out)
    data = out.getvalue()
    assert diff_id == "sha256:" + hashlib.sha256(data).hexdigest()  # the DiffID docker load checks
    with tarfile.open(fileobj=io.BytesIO(data)) as layer:
        members = {m.name: m for m in layer.getmembers()}
        assert {f"{ROOT}/index.php", f"{ROOT}/main/inc/lib/api.lib.php", f"{ROOT}/app/courses/.htaccess"} <= set(members)
        assert all(m.uid == m.gid == WWW_DATA for n, m in members.items() if n.startswith(ROOT))
        assert not any(m.mode & 0o022 for n, m in members.items() if n.startswith(ROOT))
        listing = layer.extractfile(GET_LOCK_LIST)
        assert listing is not None and listing.read().decode() == "main/inc/lib/locks.php\n"


def test_get_lock_callers_only_php_files_of_the_release_folders(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path / "tree")
    (tree / "documentation").mkdir()
    (tree / "documentation" / "notes.php").write_text("GET_LOCK(")
    (tree / "main" / "readme.txt").write_text("GET_LOCK(")
    assert get_lock_callers(tree) == ["main/inc/lib/locks.php"]
