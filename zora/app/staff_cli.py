"""`zora staff add EMAIL --shop S [--role owner|agent]` (wired into the `zora` command by zora/app/cli.py).

The password is asked for twice without echo, or read from standard input with --password-stdin
(one line, for scripts); never from the command line, where other users and shell history see it."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any, TextIO

from zora import db, staff
from zora.addresses import InvalidAddress
from zora.settings import Settings
from zora.store import shops as sshops
from zora.store import staff as sstaff


def add_commands(sub: Any) -> None:
    cmd = sub.add_parser("staff", help="staff accounts for Zora's own sign-in (docs/staff.md)")
    commands = cmd.add_subparsers(dest="staff_command", required=True, metavar="SUBCOMMAND")
    add = commands.add_parser("add", help="create a staff account for a shop (asks for the password)")
    add.add_argument("email")
    add.add_argument("--shop", required=True, help="the shop's myshopify domain")
    add.add_argument("--role", choices=staff.ROLES, default="owner", help="owner (default) or agent (read-only)")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input instead of asking"
    )


def read_password(from_stdin: bool, stdin: TextIO = sys.stdin) -> str:
    if from_stdin:
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        email = staff.normal_email(args.email)
        password = read_password(args.password_stdin)
    except (InvalidAddress, ValueError) as exc:
        print(f"zora: error: {exc}", file=sys.stderr)
        return 2
    if problem := staff.password_problem(password):
        print(f"zora: error: {problem}", file=sys.stderr)
        return 2
    return asyncio.run(add_account(settings, email, args.shop.lower(), args.role, password))


async def add_account(settings: Settings, email: str, shop: str, role: str, password: str) -> int:
    settings.require("database_url")
    assert settings.database_url
    hashed = await staff.hash_password(password)
    pool = await db.create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            shop_id = await sshops.installed_id(conn, shop)
            if shop_id is None:
                print(f"zora: error: {shop} has not installed Zora", file=sys.stderr)
                return 2
            if await sstaff.create(conn, shop_id, email, role, hashed) is None:
                print(f"zora: error: {email} already has an account", file=sys.stderr)
                return 2
    finally:
        await pool.close()
    print(f"{email} can now sign in at /staff as {role} of {shop}")
    return 0
