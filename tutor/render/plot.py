"""The loss curve as a picture (PNG or SVG) through matplotlib, an optional extra imported only here."""

from __future__ import annotations

from pathlib import Path

from ..spec.errors import TutorError


def loss_curve(net, run, path: str | Path) -> None:
    """Draw the loss per epoch (log scale when it spans more than two decades) to a .png or .svg file."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise TutorError("--plot writes a .png or .svg file", str(path))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TutorError("--plot needs matplotlib: pip install 'backprop-tutor[plot]'") from None
    losses = run.epoch_loss
    # Same input, same bytes: no timestamps in the metadata, a fixed hash salt for SVG ids.
    matplotlib.rcParams["svg.hashsalt"] = "backprop-tutor"
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(range(len(losses)), losses, color="#1f4e79", linewidth=1.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    positive = [v for v in losses if v > 0]
    if positive and max(positive) / min(positive) > 100:
        ax.set_yscale("log")
    ax.set_title(net.title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    metadata = {"Date": None} if path.suffix.lower() == ".svg" else {"Software": None}
    import io

    from ..spec.resources import write_file

    picture = io.BytesIO()
    try:
        fig.savefig(picture, format=path.suffix.lower()[1:], metadata=metadata)
    finally:
        plt.close(fig)
    write_file(path, picture.getvalue())  # the one writer: all or nothing, through a link to its target
