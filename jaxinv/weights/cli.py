"""``jaxinv weights convert | download | list``: the weights subcommands of the main CLI.

``register(subparsers)`` adds them; each handler takes the parsed arguments and returns an
exit code, raising :class:`JaxinvError` for bad input (the main CLI prints it on one line and
exits with status 2).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jaxinv.errors import JaxinvError

__all__ = ["register"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``weights`` command (with ``convert``, ``download``, ``list``) to ``subparsers``."""
    weights = subparsers.add_parser(
        "weights", help="convert, download and list network weights",
        description="Convert weight files to jaxinv's cache, download official ones, list them.")
    weights.set_defaults(handler=lambda args: _usage(weights))
    sub = weights.add_subparsers(dest="weights_command")

    convert = sub.add_parser(
        "convert", help="convert a .caffemodel, .mat, .pth or timm .safetensors file into the cache",
        description="Read SRC, check it against network NAME and write <home>/NAME.safetensors.")
    convert.add_argument("src", metavar="SRC", help="weight file (.caffemodel, .mat, .pth, .safetensors)")
    convert.add_argument("--name", required=True,
                         help="network name (caffenet, alexnet, alexnet_torchvision, squeezenet1_1,"
                              " googlenet, vgg16, resnet50, vit_b_16)")
    convert.add_argument("--prototxt", help="deploy.prototxt for a .caffemodel (if the reader needs it)")
    convert.add_argument("--home", help="cache folder (default $JAXINV_HOME or the user cache dir)")
    convert.set_defaults(handler=_run_convert)

    download = sub.add_parser(
        "download", help="download an official weight file, verify and convert it",
        description="Fetch an official file (resuming an interrupted download), check its"
                    " published checksum, and convert it into the cache. A file the cache already"
                    " holds is not fetched again (the command says so); --force fetches it anyway.")
    download.add_argument("name", metavar="NAME", help="official file name (see 'jaxinv weights list')")
    download.add_argument("--url", help="fetch from this mirror instead (the published checksum still applies)")
    download.add_argument("--sha256", help="expected sha256, for files with no published checksum")
    download.add_argument("--allow-unverified", action="store_true",
                          help="accept a file that has no checksum to check (not recommended)")
    download.add_argument("--force", action="store_true", help="download and convert again even if cached")
    download.add_argument("--home", help="cache folder (default $JAXINV_HOME or the user cache dir)")
    download.add_argument("-q", "--quiet", "--no-progress", dest="quiet", action="store_true",
                          help="no progress bar (shown when stderr is a terminal) and no notices on stderr;"
                               " --no-progress is its old name")
    download.set_defaults(handler=_run_download)

    listing = sub.add_parser("list", help="list the official files and what the cache holds")
    listing.add_argument("--home", help="cache folder (default $JAXINV_HOME or the user cache dir)")
    listing.set_defaults(handler=_run_list)
    return weights


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _run_convert(args: argparse.Namespace) -> int:
    from jaxinv.weights.cache import convert

    before = _entry(args.name, args.home)
    path = convert(args.src, name=args.name, prototxt=args.prototxt, home=args.home)
    _say_replaced(args.name, args.home, before)
    print(path)
    return 0


def _run_download(args: argparse.Namespace) -> int:
    from jaxinv.weights.download import cached_download, download
    from jaxinv.weights.official import entry

    row = entry(args.name)
    if not args.force and (held := cached_download(args.name, home=args.home, sha256=args.sha256)) is not None:
        if not args.quiet:
            source = (_entry(row.network, args.home) or {}).get("source", {})
            print(f"jaxinv: {row.name} is already in the cache, {held} (converted from {source.get('file', '?')});"
                  " nothing downloaded; pass --force to download it again", file=sys.stderr)
        print(held)
        return 0
    before = _entry(row.network, args.home)
    path = download(args.name, home=args.home, url=args.url, sha256=args.sha256,
                    allow_unverified=args.allow_unverified, force=args.force,
                    progress=not args.quiet and sys.stderr.isatty())
    _say_replaced(row.network, args.home, before)
    print(path)
    return 0


def _entry(name: str, home: str | None) -> dict | None:
    from jaxinv.weights.cache import read_manifest

    return read_manifest(home=home)["entries"].get(name)


def _say_replaced(name: str, home: str | None, before: dict | None) -> None:
    """One line on stderr when this command's conversion replaced another source's in the cache."""
    from jaxinv.weights.cache import replacement_notice

    entry = _entry(name, home)
    notice = replacement_notice(name, entry) if entry != before else None
    if notice:
        print(f"jaxinv: {notice}", file=sys.stderr)


def _run_list(args: argparse.Namespace) -> int:
    from jaxinv.weights.cache import cache_home, read_manifest
    from jaxinv.weights.official import entries

    home = cache_home(home=args.home)
    cached = read_manifest(home=home)["entries"]
    print(f"cache: {home}")
    print(f"{'NAME':22s} {'NETWORK':20s} {'CHECKSUM':14s} {'CACHED':7s} FILE")
    for row in entries():
        source = cached.get(row.network, {}).get("source", {})
        state = "yes" if source.get("official") == row.name or source.get("file") == row.file else (
            "other" if row.network in cached else "no")
        check = row.algorithm or "none"
        print(f"{row.name:22s} {row.network:20s} {check:14s} {state:7s} {row.file}")
    others = sorted(set(cached) - {row.network for row in entries()})
    for name in others:
        print(f"{'-':22s} {name:20s} {'-':14s} {'yes':7s} {cached[name].get('source', {}).get('file', '?')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the weights commands alone (``python -m jaxinv.weights.cli``), as the main CLI would."""
    parser = argparse.ArgumentParser(prog="jaxinv")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except JaxinvError as exc:
        print(f"jaxinv: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
