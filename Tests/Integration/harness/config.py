"""Writes the files `sextant serve` reads: catalog, defaults and per-service templates.

Every file format detail lives here, so a format change touches one file.
(Config/ in the repository documents the formats; Sources/Templates/TemplateFormat.swift parses them.)
catalog.yaml:        services: {NAME: {instances: [{id?, address, port, zone?, region?, health?, weight?}]}}
defaults.yaml:       listeners: {address, outbound_port, inbound_port}  (every other field has a default)
services/NAME.yaml:  service, inbound {port, protocol}, dependencies [{name, protocol?, timeout?}]
protocols:           http1 | http2 | grpc
"""

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ZONE = "zone-a"
REGION = "region-1"


@dataclass
class Instance:
    port: int
    address: str = "127.0.0.1"
    zone: str = ZONE
    region: str | None = REGION
    health: str = "healthy"
    weight: int | None = None

    def to_yaml(self) -> dict:
        out = {"address": self.address, "port": self.port, "zone": self.zone, "health": self.health}
        if self.region is not None:
            out["region"] = self.region
        if self.weight is not None:
            out["weight"] = self.weight
        return out

    @property
    def hostport(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass
class ConfigDir:
    root: Path
    outbound_port: int
    inbound_port: int
    listener_address: str = "127.0.0.1"
    catalog: dict[str, list[Instance]] = field(default_factory=dict)

    def __post_init__(self):
        self.root = Path(self.root)
        (self.root / "services").mkdir(parents=True, exist_ok=True)
        self.write_defaults()
        self.write_catalog()

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.yaml"

    @property
    def defaults_path(self) -> Path:
        return self.root / "defaults.yaml"

    @property
    def templates_dir(self) -> Path:
        return self.root / "services"

    # -- writing -------------------------------------------------------------------------

    def _write_atomically(self, path: Path, document: dict) -> None:
        # A rename gives the file a new inode in one step: a watcher never sees half a file.
        temp = path.with_name(f".{path.name}.tmp")
        with open(temp, "w") as f:
            yaml.safe_dump(document, f, sort_keys=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)

    def write_defaults(self) -> None:
        self._write_atomically(self.defaults_path, {
            "listeners": {
                "address": self.listener_address,
                "outbound_port": self.outbound_port,
                "inbound_port": self.inbound_port,
            },
        })

    def write_service(self, name: str, app_port: int, protocol: str = "http1",
                      dependencies: list[str | dict] | None = None) -> None:
        """`dependencies`: names, or dicts like {"name": "payments", "protocol": "grpc"}."""
        self._write_atomically(self.templates_dir / f"{name}.yaml", {
            "service": name,
            "inbound": {"port": app_port, "protocol": protocol},
            "dependencies": [d if isinstance(d, dict) else {"name": d} for d in (dependencies or [])],
        })

    def write_catalog(self) -> None:
        self._write_atomically(self.catalog_path, {
            "services": {
                name: {"instances": [i.to_yaml() for i in instances]}
                for name, instances in sorted(self.catalog.items())
            },
        })

    # -- catalog edits (each one rewrites catalog.yaml) -----------------------------------

    def set_instances(self, service: str, instances: list[Instance]) -> None:
        self.catalog[service] = copy.deepcopy(instances)
        self.write_catalog()

    def add_instance(self, service: str, instance: Instance) -> None:
        self.catalog.setdefault(service, []).append(copy.deepcopy(instance))
        self.write_catalog()

    def remove_instance(self, service: str, port: int) -> None:
        before = self.catalog.get(service, [])
        self.catalog[service] = [i for i in before if i.port != port]
        assert len(self.catalog[service]) == len(before) - 1, f"no instance of {service} on port {port}"
        self.write_catalog()

    def hostports(self, service: str) -> set[str]:
        return {i.hostport for i in self.catalog.get(service, [])}
