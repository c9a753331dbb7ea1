"""``fedforget ledger DIR``, ``fedforget verify RECEIPT`` and ``fedforget prove RECEIPT``
(parsers and handlers; the top-level CLI only registers them)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from fedforget.util.errors import FedForgetError


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    led = sub.add_parser("ledger", help="print the deletion ledger of an output folder (safe while a run writes it)")
    led.add_argument("out", help="output folder of a run (holds ledger.sqlite)")
    led.add_argument("--json", action="store_true", help="every entry with its events, as JSON")
    v = sub.add_parser("verify", help="check a deletion receipt: signature, hash chain, device commitment, zk proof")
    v.add_argument("receipt", help="a receipt, e.g. runs/quickstart/receipts/r0.json")
    v.add_argument("--public-key", default=None, metavar="HEX|FILE",
                   help="the server's Ed25519 public key (hex, or a receipt_ed25519.pub file) the receipt must be signed by")
    v.add_argument("--device", default=None, metavar="DIR",
                   help="on the device: its data folder or client-state root; recompute the commitment from its samples + salt")
    v.add_argument("--zk", default=None, metavar="DIR",
                   help="a zero-knowledge bundle (default: <receipt>.zk/ when it exists; needs the zk extra)")
    v.add_argument("--zk-rebuild-vk", action="store_true",
                   help="also rebuild the circuit's verification key from the published architecture (a key setup)")
    pr = sub.add_parser("prove", help="on a device: zero-knowledge proof of the published model's outputs on "
                                      "committed forget samples (needs the zk extra)")
    pr.add_argument("receipt")
    pr.add_argument("--device", required=True, metavar="DIR", help="the device's data folder or client-state root")
    pr.add_argument("--samples", type=int, default=4, help="how many committed samples to prove on (default 4)")
    pr.add_argument("--config", default=None, help="experiment YAML (default: the device's config.yaml)")


def _public_key(arg: str | None) -> str | None:
    if arg is None:
        return None
    p = Path(arg)
    return p.read_text().strip() if p.exists() else arg.strip()


def main(args: argparse.Namespace) -> int:
    logging.getLogger("ezkl").setLevel(logging.WARNING)  # ezkl logs every step at INFO
    if args.cmd == "ledger":
        from fedforget.deletion.ledger import Ledger, format_table

        with Ledger.open_readonly(args.out) as led:
            if args.json:
                print(json.dumps({"ledger": str(led.path), "entries": led.entries(with_events=True)}, indent=2))
            else:
                print(format_table(led.entries()))
        return 0
    if args.cmd == "prove":
        from fedforget.deletion.receipts.prover import prove_receipt

        bundle, t = prove_receipt(args.receipt, args.device, args.samples, args.config)
        print(f"zero-knowledge bundle: {bundle} (setup {t['setup']:.1f}s, proof {t['prove']:.1f}s, "
              f"verification {t['verify']:.2f}s, logrows {int(t['logrows'])})")
        return 0
    from fedforget.deletion.receipts.receipt import load_receipt, verify_receipt

    receipt = load_receipt(args.receipt)
    zk = Path(args.zk) if args.zk else Path(str(args.receipt).removesuffix(".json") + ".zk")
    if args.zk and not zk.is_dir():
        raise FedForgetError(f"--zk {zk} is not a folder holding a zero-knowledge bundle")
    v = verify_receipt(receipt, trusted_public_key=_public_key(args.public_key), device_dir=args.device,
                       zk_dir=zk if zk.is_dir() else None, rebuild_vk=args.zk_rebuild_vk)
    if args.device and zk.is_dir():  # only the device can link the proof's inputs to its commitment
        from fedforget.deletion.receipts.prover import check_device_inputs

        try:
            v.add(*check_device_inputs(args.receipt, args.device, zk))
        except FedForgetError as e:
            v.add("zk.inputs", False, str(e))
    body = receipt["body"]
    print(f"receipt {body.get('request_id')} ({args.receipt}): {body.get('granularity')} request of clients "
          f"{body.get('clients')}, {body.get('size')} samples, served at round {body.get('served_round')} "
          f"by {body.get('method')}")
    for line in v.lines():
        print("  " + line)
    if not v.ok:
        print("receipt does NOT verify: " + "; ".join(v.failures()))
        return 1
    print("receipt verifies")
    return 0
