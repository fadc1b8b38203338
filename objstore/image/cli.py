"""``objstore-image``: the operator's CLI for the image service.

    objstore-image [--url URL] [--auth URL --user U --key K | --token T] [-q] COMMAND

    upload FILE --name N --disk-format F [--container-format bare] [--visibility V]
           [--min-disk GB] [--min-ram MB] [--tag T ...] [--property k=v ...]
    upload FILE --id ID          the data of an image created before (queued, or
                                 left saving by an image server that died)
    download ID [-o FILE]        checked against the image's checksum (MD5)
    list [--filter key=value ...] [--json]
    show ID [--json]
    delete ID [ID ...]

Defaults come from the environment, as the swift CLI takes them:
``OS_IMAGE_URL`` (else http://127.0.0.1:9292), ``ST_AUTH``, ``ST_USER``,
``ST_KEY``, and ``OS_AUTH_TOKEN``. Transfers stream in ``CHUNK`` pieces
(constant memory, chunked uploads as the glance CLI sends them) with
their progress on standard error. Exit codes: 0 done; 1 the service
refused (its status and reason on stderr) or a transfer failed or did
not check out; 2 a bad command line.

Only the standard library: this runs on hypervisor hosts and operators'
machines that have no objstore dependencies.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import urllib.parse
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

from objstore.image.cli_http import CommandError, ImageClient, get_token, refusal
from objstore.image.cli_progress import Progress, amount

CHUNK: Final = 1 << 20        # bytes per read and per chunk sent, as the glance CLI
PAGE: Final = 100             # images per listing request
DEFAULT_URL: Final = "http://127.0.0.1:9292"
LIST_COLUMNS: Final = ("id", "status", "size", "disk_format", "name")


# -- upload ------------------------------------------------------------------------

def _file_chunks(handle: BinaryIO, name: str, md5: Any, progress: Progress
                 ) -> Iterator[bytes]:
    while True:
        try:
            data = handle.read(CHUNK)
        except OSError as err:   # not an OSError any more: the sender must not take
            raise CommandError(f"reading {name} failed: {err}") from None   # it for the net
        if not data:
            return
        md5.update(data)
        progress.advance(len(data))
        yield data


def _new_image_fields(args: argparse.Namespace) -> dict[str, Any]:
    if not args.name or not args.disk_format:
        raise CommandError("upload needs --name and --disk-format (or --id of an image)")
    fields: dict[str, Any] = {"name": args.name, "disk_format": args.disk_format,
                              "container_format": args.container_format}
    for option in ("visibility", "min_disk", "min_ram"):
        if getattr(args, option) is not None:
            fields[option] = getattr(args, option)
    if args.tag:
        fields["tags"] = args.tag
    for pair in args.property:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise CommandError(f"--property {pair!r} is not key=value")
        fields[key] = value
    return fields


def upload(client: ImageClient, args: argparse.Namespace) -> int:
    try:
        handle = open(args.file, "rb")
        size = os.fstat(handle.fileno()).st_size
    except OSError as err:
        raise CommandError(f"cannot read {args.file}: {err.strerror}") from None
    with handle:
        if args.id:
            image = client.json("GET", f"/v2/images/{_quoted(args.id)}", f"image {args.id}")
            if image["status"] not in ("queued", "saving", "uploading"):
                raise CommandError(f"image {args.id} is {image['status']}: it takes no "
                                   "more data")
        else:
            image = client.json("POST", "/v2/images", f"creating image {args.name!r}",
                                _new_image_fields(args))
            print(f"created image {image['id']}", file=sys.stderr)
        try:
            md5 = _send(client, image["id"], handle, args.file, size, args.quiet)
        except CommandError as err:
            if args.id:
                raise
            raise CommandError(f"{err} ({_remove_new(client, image['id'])})") from None
    image = client.json("GET", f"/v2/images/{image['id']}", f"image {image['id']}")
    if image.get("checksum") != md5:
        raise CommandError(f"image {image['id']} was stored with checksum "
                           f"{image.get('checksum')}, but {args.file} has {md5}")
    _print_image(image, args.json)
    return 0


def _send(client: ImageClient, image_id: str, handle: BinaryIO, name: str, size: int,
          quiet: bool) -> str:
    """Stream the file into the image; its MD5."""
    progress = Progress("uploading", size, quiet)
    md5 = hashlib.md5()
    status, _, body = client.put_stream(
        f"/v2/images/{image_id}/file", _file_chunks(handle, name, md5, progress),
        {"x-openstack-image-size": str(size)})
    progress.finish()
    if status // 100 != 2:
        raise refusal(f"uploading {name} to image {image_id}", status, body)
    return md5.hexdigest()


def _remove_new(client: ImageClient, image_id: str) -> str:
    """Delete the image this upload created, so no empty one stays behind."""
    try:
        status, _, body = client.call("DELETE", f"/v2/images/{image_id}")
    except CommandError as err:
        return f"image {image_id} is left: {err}"
    if status == 204:
        return f"image {image_id} was deleted"
    return f"image {image_id} is left: {refusal('deleting it', status, body)}"


# -- download ----------------------------------------------------------------------

def download(client: ImageClient, args: argparse.Namespace) -> int:
    image_id = _quoted(args.id)
    image = client.json("GET", f"/v2/images/{image_id}", f"image {args.id}")
    if args.output is None and sys.stdout.isatty():
        raise CommandError("will not write an image to a terminal: give -o FILE")
    conn, response = client.open_get(f"/v2/images/{image_id}/file")
    try:
        if response.status == 204:
            raise CommandError(f"image {args.id} has no data (status {image['status']})")
        if response.status != 200:
            raise refusal(f"downloading image {args.id}", response.status, response.read())
        length = int(response.getheader("Content-Length") or image.get("size") or 0)
        expected = image.get("checksum") or response.getheader("Content-MD5")
        if args.output is None:
            md5, got = _receive(response, sys.stdout.buffer, length, args.quiet)
        else:
            md5, got = _receive_into(response, args.output, length, expected, args.quiet)
    finally:
        conn.close()
    if args.output is None:   # nothing to take back; at least say so
        _check(args.id, got, length, md5, expected)
    print(f"downloaded image {args.id}: {amount(got)}, checksum {md5} verified",
          file=sys.stderr)
    return 0


def _receive_into(response: Any, name: str, length: int, expected: str | None,
                  quiet: bool) -> tuple[str, int]:
    """Into a file beside ``name``, renamed to it once whole and checked, so
    ``name`` never holds a partial or damaged image."""
    if os.path.exists(name) and not os.path.isfile(name):   # /dev/null and the like
        with open(name, "wb") as target:
            return _receive(response, target, length, quiet)
    partial = os.path.join(os.path.dirname(os.path.abspath(name)),
                           f".{os.path.basename(name)}.part-{os.getpid()}")
    try:
        with open(partial, "wb") as target:
            md5, got = _receive(response, target, length, quiet)
            _check(os.path.basename(name), got, length, md5, expected)
            target.flush()
            os.fsync(target.fileno())
        os.replace(partial, name)
    except OSError as err:
        raise CommandError(f"cannot write {name}: {err.strerror}") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return md5, got


def _receive(response: Any, target: BinaryIO, length: int, quiet: bool) -> tuple[str, int]:
    progress = Progress("downloading", length, quiet)
    md5 = hashlib.md5()
    while True:
        try:
            data = response.read(CHUNK)
        except OSError as err:
            raise CommandError(f"the download broke off after {amount(progress.done_bytes)}: "
                               f"{err}") from None
        if not data:
            break
        md5.update(data)
        target.write(data)
        progress.advance(len(data))
    progress.finish()
    return md5.hexdigest(), progress.done_bytes


def _check(name: str, got: int, length: int, md5: str, expected: str | None) -> None:
    if got != length:
        raise CommandError(f"{name}: got {got} bytes of {length}: the download is incomplete")
    if expected and md5 != expected:
        raise CommandError(f"{name}: the data's MD5 is {md5}, the image's checksum "
                           f"{expected}: the download is damaged")


# -- list, show, delete ------------------------------------------------------------

def list_images(client: ImageClient, args: argparse.Namespace) -> int:
    query: list[tuple[str, str]] = []
    for pair in args.filter:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise CommandError(f"--filter {pair!r} is not key=value")
        query.append((key, value))
    url: str | None = "/v2/images?" + urllib.parse.urlencode([*query, ("limit", str(PAGE))])
    images: list[dict[str, Any]] = []
    while url:
        page = client.json("GET", url, "listing images")
        images += page["images"]
        url = page.get("next")
    if args.json:
        print(json.dumps(images, indent=2, sort_keys=True))
        return 0
    rows = [[str(image.get(column) if image.get(column) is not None else "")
             for column in LIST_COLUMNS] for image in images]
    widths = [max([len(column), *(len(row[n]) for row in rows)])
              for n, column in enumerate(LIST_COLUMNS)]
    for row in [[column.upper() for column in LIST_COLUMNS], *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def show(client: ImageClient, args: argparse.Namespace) -> int:
    _print_image(client.json("GET", f"/v2/images/{_quoted(args.id)}", f"image {args.id}"),
                 args.json)
    return 0


def _print_image(image: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(image, indent=2, sort_keys=True))
        return
    width = max(len(key) for key in image)
    for key in sorted(image):
        value = image[key]
        text = json.dumps(value) if isinstance(value, (list, dict, bool)) or value is None \
            else str(value)
        print(f"{key.ljust(width)}  {text}")


def delete(client: ImageClient, args: argparse.Namespace) -> int:
    failed = 0
    for image_id in args.ids:
        status, _, body = client.call("DELETE", f"/v2/images/{_quoted(image_id)}")
        if status == 204:
            print(f"deleted image {image_id}")
        else:
            print(f"objstore-image: {refusal(f'deleting image {image_id}', status, body)}",
                  file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _quoted(image_id: str) -> str:
    return urllib.parse.quote(image_id, safe="")


# -- the command line --------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    top = argparse.ArgumentParser(
        prog="objstore-image", description="Store, fetch and manage VM images in the "
        "objstore image service (Glance v2 API).",
        epilog="Exit codes: 0 done, 1 refused or failed (reason on stderr), 2 bad usage.")
    top.add_argument("--url", default=env("OS_IMAGE_URL") or DEFAULT_URL,
                     help="the image service (default: $OS_IMAGE_URL or %(default)s)")
    top.add_argument("-A", "--auth", default=env("ST_AUTH"),
                     help="the cluster's auth URL, .../auth/v1.0 (default: $ST_AUTH)")
    top.add_argument("-U", "--user", default=env("ST_USER"),
                     help="account:user (default: $ST_USER)")
    top.add_argument("-K", "--key", default=env("ST_KEY"), help="the key (default: $ST_KEY)")
    top.add_argument("--token", default=env("OS_AUTH_TOKEN"),
                     help="a token instead of --auth/--user/--key (default: $OS_AUTH_TOKEN)")
    top.add_argument("--timeout", type=float, default=120.0,
                     help="seconds the service may stay silent (default: %(default)s)")
    top.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("upload", help="create an image from a file (or fill one)")
    up.add_argument("file")
    up.add_argument("--name")
    up.add_argument("--disk-format", help="raw, qcow2, vmdk, vhd, vhdx, vdi, iso, ...")
    up.add_argument("--container-format", default="bare")
    up.add_argument("--visibility", choices=("private", "shared", "community", "public"))
    up.add_argument("--min-disk", type=int, help="GB of disk the image needs")
    up.add_argument("--min-ram", type=int, help="MB of memory the image needs")
    up.add_argument("--tag", action="append", default=[])
    up.add_argument("--property", action="append", default=[], metavar="KEY=VALUE")
    up.add_argument("--id", help="upload into this image instead of creating one")
    up.add_argument("--json", action="store_true", help="print the image as JSON")
    up.set_defaults(run=upload)

    down = commands.add_parser("download", help="an image's data, checked against its "
                               "checksum")
    down.add_argument("id")
    down.add_argument("-o", "--output", help="the file to write (default: standard output)")
    down.set_defaults(run=download)

    listing = commands.add_parser("list", help="the images you can see")
    listing.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                         help="as the API takes them: name, status, visibility, tag, "
                         "disk_format, owner, a custom property, ...")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=list_images)

    shown = commands.add_parser("show", help="one image's properties")
    shown.add_argument("id")
    shown.add_argument("--json", action="store_true")
    shown.set_defaults(run=show)

    gone = commands.add_parser("delete", help="delete images")
    gone.add_argument("ids", nargs="+", metavar="ID")
    gone.set_defaults(run=delete)
    return top


def connect(args: argparse.Namespace) -> ImageClient:
    token = args.token
    if not token:
        if not (args.auth and args.user and args.key):
            raise CommandError("no credentials: give --token (or $OS_AUTH_TOKEN), or --auth, "
                               "--user and --key (or $ST_AUTH, $ST_USER, $ST_KEY)")
        token = get_token(args.auth, args.user, args.key, args.timeout)
    return ImageClient(args.url, token, args.timeout)


def run(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(connect(args), args))
    except CommandError as err:
        print(f"objstore-image: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("objstore-image: interrupted", file=sys.stderr)
        return 1


def main() -> None:
    sys.exit(run())


__all__ = ["main", "parser", "run"]
