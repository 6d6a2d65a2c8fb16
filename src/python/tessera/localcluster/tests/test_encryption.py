"""The API server's EncryptionConfiguration: a key made once, private, and secretbox before identity."""

import base64
import json
import stat
from pathlib import Path

from tessera.localcluster.encryption import CIPHERTEXT_PREFIX, ensure_encryption_config


def test_the_key_is_made_once_readable_by_its_owner_only_and_used_first(tmp_path: Path) -> None:
    path = ensure_encryption_config(tmp_path / "pki")
    config = json.loads(path.read_text())
    providers = config["resources"][0]["providers"]
    assert config["kind"] == "EncryptionConfiguration" and config["resources"][0]["resources"] == ["secrets"]
    assert list(providers[0]) == ["secretbox"] and providers[-1] == {"identity": {}}
    key = providers[0]["secretbox"]["keys"][0]
    assert len(base64.b64decode(key["secret"])) == 32
    assert f"k8s:enc:secretbox:v1:{key['name']}:".encode() == CIPHERTEXT_PREFIX
    for written in (path, tmp_path / "pki" / "secrets-encryption.key"):
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
    again = json.loads(ensure_encryption_config(tmp_path / "pki").read_text())
    assert again["resources"][0]["providers"][0]["secretbox"]["keys"][0] == key  # etcd's data stays readable
