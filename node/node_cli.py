"""``ordinet init | run | keys | tx``: one node, its keys and its transactions.

- ``init --home DIR``: write a node home (genesis, node key, config), or
  with ``--nodes N`` a set of homes for a local network;
- ``run --home DIR [--policy-module PATH_OR_MODULE ...]``: run the node of
  that home until SIGINT/SIGTERM (the flag adds policy plugins to the config's);
- ``keys new --out FILE``: a new key (a wallet file, mode 0600);
- ``tx send --rpc URL --key FILE --to ADDR --amount N --fee N|auto``: sign a
  transfer and submit it through a node's API.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from node.argtypes import int_in, non_negative, port, positive, positive_int, uint64, whole
from node.config import (
    CONFIG_FILE_NAME,
    LOG_LEVELS,
    NodeConfig,
    load_config,
    resolve_policy_modules,
)
from node.errors import ConfigError
from node.types import Transaction
from node.wallet import Wallet

CONSENSUS_CHOICES = ("bft", "poa", "pow")
MAX_INIT_NODES = 1000


def register(subparsers: Any) -> None:
    _register_init(subparsers)
    _register_run(subparsers)
    _register_keys(subparsers)
    _register_tx(subparsers)


# -- init ---------------------------------------------------------------------


def _register_init(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "init",
        help="write a node home: genesis, node key, config",
        description="Write a node home (or, with --nodes N, N homes for a local network "
        "under DIR/node0..). Each node's key is a validator unless --validators says fewer.",
    )
    p.add_argument("--home", required=True, type=Path, help="directory to write")
    p.add_argument(
        "--nodes", type=int_in(1, MAX_INIT_NODES), default=1, help="how many homes (default 1)"
    )
    p.add_argument("--validators", type=whole, default=None, help="validators among them (all)")
    p.add_argument("--consensus", choices=CONSENSUS_CHOICES, default="bft")
    p.add_argument("--chain-id", default="ordinet-local")
    p.add_argument("--accounts", type=whole, default=4, help="funded wallets in HOME/accounts")
    p.add_argument("--balance", type=uint64, default=10**15, help="balance of each account")
    p.add_argument("--p2p-port", type=port, default=None, help="first P2P port (default: free)")
    p.add_argument("--rpc-port", type=port, default=None, help="first RPC port (default: free)")
    p.add_argument("--block-interval-ms", type=positive_int, default=None)
    p.add_argument("--policy", default=None, help="scheduling policy (default: fee)")
    p.add_argument("--admin", action="store_true", help="enable the admin (fault) API")
    p.add_argument("--force", action="store_true", help="overwrite an existing config")
    p.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    from node.runtime.home import init_homes

    params: dict[str, Any] = {}
    if args.block_interval_ms is not None:
        params["block_interval_ms"] = args.block_interval_ms
    overrides: dict[str, dict[str, Any]] = {}
    if args.policy is not None:
        overrides["scheduling"] = {"policy": args.policy}
    homes = init_homes(
        args.home,
        nodes=args.nodes,
        validators=args.validators,
        consensus=args.consensus,
        chain_id=args.chain_id,
        accounts=args.accounts,
        balance=args.balance,
        params=params,
        p2p_ports=_port_range(args.p2p_port, args.nodes),
        rpc_ports=_port_range(args.rpc_port, args.nodes),
        admin_enabled=args.admin,
        config_overrides=overrides,
        overwrite=args.force,
    )
    print(
        f"chain {homes.genesis.chain_id} ({homes.genesis.consensus}), genesis hash "
        f"{homes.genesis.hash.hex()}"
    )
    for home in homes.nodes:
        role = "validator" if home.validator else "follower"
        print(
            f"  {home.path}  node {home.key.address_hex[:16]}  {role}  "
            f"p2p :{home.p2p_port}  rpc {home.rpc_url}"
        )
    if homes.accounts:
        print(f"  {len(homes.accounts)} funded accounts in {homes.base / 'accounts'}")
    first = homes.nodes[0].path
    print(f"start with: ordinet run --home {first}")
    return 0


def _port_range(first: int | None, count: int) -> list[int] | None:
    return None if first is None else [first + i for i in range(count)]


# -- run ------------------------------------------------------------------------


def _register_run(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help="run one node",
        description="Run the node of a home directory until SIGINT or SIGTERM.",
    )
    p.add_argument("--home", required=True, type=Path, help="the node's home directory")
    p.add_argument(
        "--config", type=Path, default=None, help=f"config file (default HOME/{CONFIG_FILE_NAME})"
    )
    p.add_argument("--log-level", default=None, help="override log.level")
    p.add_argument(
        "--policy-module",
        action="append",
        default=[],
        metavar="PATH_OR_MODULE",
        help="load a scheduling policy plugin: a .py file (relative to the working "
        "directory) or an importable module; repeatable, added to the config's "
        "[scheduling] policy_module. Select its policy with [scheduling] policy",
    )
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from node.runtime import run_node
    from node.runtime.home import prepare_data_dir
    from node.runtime.logs import configure_logging

    config_path = args.config or args.home / CONFIG_FILE_NAME
    if not config_path.exists():
        raise ConfigError(
            f"{config_path}: no such config file (write a home with `ordinet init --home DIR`)"
        )
    config = load_config(config_path, home=args.home)
    if args.log_level is not None:
        level = args.log_level.upper()
        if level not in LOG_LEVELS:
            raise ConfigError(f"--log-level must be one of {list(LOG_LEVELS)}")
        config = dataclasses.replace(config, log=dataclasses.replace(config.log, level=level))
    if args.policy_module:
        config = _with_policy_modules(config, args.policy_module)
    prepare_data_dir(config)
    try:
        configure_logging(config.log)
    except OSError as exc:
        raise ConfigError(
            f"{config.source}: field 'log.file': cannot write {config.log.file}: {exc.strerror}"
        ) from None
    return asyncio.run(run_node(config))


def _with_policy_modules(config: NodeConfig, specs: list[str]) -> NodeConfig:
    """``config`` with the ``--policy-module`` plugins added, loaded here first
    so that a broken one is named as the flag's (the node loads the config's)."""
    from node.scheduling.plugins import load_policy_modules

    flagged = resolve_policy_modules(specs, Path.cwd())
    try:
        load_policy_modules(flagged)
    except ConfigError as exc:
        raise ConfigError(f"--policy-module: {exc.message}", code=exc.code) from None
    modules = tuple(dict.fromkeys((*config.scheduling.policy_module, *flagged)))
    scheduling = dataclasses.replace(config.scheduling, policy_module=modules)
    return dataclasses.replace(config, scheduling=scheduling)


# -- keys -------------------------------------------------------------------------


def _register_keys(subparsers: Any) -> None:
    p = subparsers.add_parser("keys", help="create and show keys")
    sub = p.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)
    new = sub.add_parser("new", help="generate a key and save it as a wallet file")
    new.add_argument("--out", required=True, type=Path, help="file to write (mode 0600)")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    new.set_defaults(func=cmd_keys_new)
    show = sub.add_parser("show", help="print the address of a key file")
    show.add_argument("file", type=Path)
    show.set_defaults(func=cmd_keys_show)


def cmd_keys_new(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.force:
        raise ConfigError(f"{args.out}: already exists (refusing to overwrite; --force to)")
    wallet = Wallet.generate()
    wallet.save(args.out)
    print(wallet.address_hex)
    return 0


def cmd_keys_show(args: argparse.Namespace) -> int:
    print(Wallet.load(args.file).address_hex)
    return 0


# -- tx -----------------------------------------------------------------------------


def _register_tx(subparsers: Any) -> None:
    p = subparsers.add_parser("tx", help="send transactions through a node's API")
    sub = p.add_subparsers(dest="tx_command", metavar="SUBCOMMAND", required=True)
    send = sub.add_parser("send", help="sign a transfer and submit it")
    send.add_argument("--rpc", required=True, help="a node's API URL, e.g. http://127.0.0.1:26657")
    send.add_argument("--key", required=True, type=Path, help="the sender's wallet file")
    send.add_argument("--to", required=True, help="recipient address (64 hex characters)")
    send.add_argument("--amount", required=True, type=uint64)
    send.add_argument(
        "--fee",
        required=True,
        type=_fee_arg,
        help="the fee, or `auto`: the node's estimate (GET /fees/estimate) for this tx's size",
    )
    send.add_argument(
        "--fee-blocks", type=positive_int, default=3, help="with --fee auto: target blocks (3)"
    )
    send.add_argument(
        "--fee-confidence",
        type=_confidence,
        default=0.9,
        help="with --fee auto: probability of inclusion within the target (0.9)",
    )
    send.add_argument("--nonce", type=uint64, default=None, help="default: the account's next")
    send.add_argument("--data", default="", help="payload, hex")
    send.add_argument("--wait", action="store_true", help="wait until the tx is committed")
    send.add_argument("--timeout", type=non_negative, default=30.0, help="seconds for --wait")
    send.set_defaults(func=cmd_tx_send)


def _fee_arg(text: str) -> int | str:
    return "auto" if text == "auto" else uint64(text)


def _confidence(text: str) -> float:
    value = positive(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text}")
    return value


def cmd_tx_send(args: argparse.Namespace) -> int:
    from node.client import Client

    wallet = Wallet.load(args.key)
    try:
        recipient = bytes.fromhex(args.to)
        data = bytes.fromhex(args.data)
    except ValueError:
        raise ConfigError("--to and --data must be hex") from None
    if len(recipient) != 32:
        raise ConfigError("--to must be 64 hex characters (an address)")
    client = Client(args.rpc)
    status = client.status()
    nonce = args.nonce if args.nonce is not None else client.next_nonce(wallet.address)

    def transfer(fee: int) -> Transaction:
        return wallet.transfer(
            to=recipient,
            amount=args.amount,
            fee=fee,
            nonce=nonce,
            chain_id=status["chain_id"],
            data=data,
        )

    if args.fee == "auto":
        size = transfer(0).size  # the encoding is fixed-width: the fee does not change it
        answer = client.estimate_fee(args.fee_blocks, args.fee_confidence, size=size)
        if answer["fee"] is None:
            raise ConfigError("the node has no fee estimate yet; give --fee N")
        print(
            f"fee {answer['fee']} ({answer['fee_rate']:g} per byte for {size} bytes, "
            f"within {answer['blocks']} blocks at {answer['confidence']:g})",
            file=sys.stderr,
        )
        tx = transfer(int(answer["fee"]))
    else:
        tx = transfer(args.fee)
    result = client.submit([tx])[0]
    print(tx.id.hex())
    print(json.dumps(result, sort_keys=True))
    if not result.get("accepted"):
        return 1
    if args.wait:
        try:
            committed = client.wait_for_tx(tx.id, timeout_s=args.timeout)
        except TimeoutError as exc:
            print(f"ordinet: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(committed, sort_keys=True))
    return 0
