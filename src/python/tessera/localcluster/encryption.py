"""Secrets encrypted at rest: the API server's EncryptionConfiguration, with a key made once per state directory.

The API server encrypts a Secret (secretbox: XSalsa20 and Poly1305) before etcd keeps it, and decrypts it for any
reader allowed by RBAC: pods see plain values, a copy of etcd's data (a backup, a disk) holds ciphertext only. Here
the key is a file next to the cluster's certificates (mode 0600). A production cluster keeps no key on its control
plane's disk: a KMS v2 provider (`kms: {apiVersion: v2, name, endpoint}` in the same file) has the cloud's or
Vault's key service wrap the data keys, and the key can be rotated there.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

PROVIDER = "secretbox"
KEY_NAME = "key1"
# How etcd's value of an encrypted Secret begins (then the nonce and the sealed object).
CIPHERTEXT_PREFIX = f"k8s:enc:{PROVIDER}:v1:{KEY_NAME}:".encode()


def _write_private(path: Path, text: str) -> None:
    """Writes `path` readable by its owner only, from its creation on (never a moment with wider permissions)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    path.chmod(0o600)  # an older file keeps its mode on O_TRUNC


def ensure_encryption_config(directory: Path) -> Path:
    """The EncryptionConfiguration for `--encryption-provider-config` (JSON, which the API server reads as YAML).

    The key is made on first use and kept: the cluster's etcd data stays readable across restarts.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "secrets-encryption.key"
    if not key_file.exists():
        _write_private(key_file, base64.b64encode(os.urandom(32)).decode())
    key = key_file.read_text().strip()
    config = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ["secrets"],
                # The first provider encrypts what is written; identity last still reads Secrets stored unencrypted.
                "providers": [{PROVIDER: {"keys": [{"name": KEY_NAME, "secret": key}]}}, {"identity": {}}],
            }
        ],
    }
    path = directory / "encryption-config.json"
    _write_private(path, json.dumps(config, indent=1))
    return path
