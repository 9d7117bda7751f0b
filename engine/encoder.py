"""One encoder over open_clip: global photo and text vectors, patch tokens and word tokens.

Everything model-specific (which tower class, which pooling, which preprocessing) stays in this
module; the rest of the engine sees float32 numpy arrays that are L2-normalised.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.tokenizer import SimpleTokenizer
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image

from engine import forward, runtime
from engine.config import ModelSpec, default_cache_dir
from engine.errors import ModelUnavailable, ViewfinderError

log = logging.getLogger(__name__)


class _QuietRandomInit(logging.Filter):
    """open_clip warns on the root logger whenever it builds a model without weights, which is
    how we always build it (weights are loaded by us, or random init is what was asked for)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No pretrained weights loaded")


logging.getLogger().addFilter(_QuietRandomInit())

Progress = Callable[[int, int], None]

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
_TEXT_BATCH = 256  # prompt-ensembling can send hundreds of texts; bound the activation memory
_LOCAL_HINT = "pass a local checkpoint file with --pretrained /path/to/model.safetensors"


def pick_device(requested: str = "auto") -> str:
    """Resolve a device name: "auto" takes cuda, then mps, then cpu; a forced one must exist."""
    requested = (requested or "auto").strip().lower()
    cuda_ok = torch.cuda.is_available()
    mps_ok = torch.backends.mps.is_available()
    if requested == "auto":
        return "cuda" if cuda_ok else "mps" if mps_ok else "cpu"
    if requested == "cpu":
        return "cpu"
    if requested == "mps":
        if not mps_ok:
            raise ViewfinderError(
                "Device 'mps' was requested but Apple Metal is not available; use 'auto' or 'cpu'."
            )
        return "mps"
    if requested == "cuda" or requested.startswith("cuda:"):
        index = requested.partition(":")[2]
        if not cuda_ok:
            raise ViewfinderError(
                f"Device '{requested}' was requested but PyTorch sees no CUDA GPU; use 'auto' or 'cpu'."
            )
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ViewfinderError(
                f"Device '{requested}' does not exist: PyTorch sees {torch.cuda.device_count()} CUDA GPU(s)."
            )
        return requested
    raise ViewfinderError(f"Unknown device '{requested}'; choose one of auto, cpu, cuda, mps.")


def _resolve_model_name(name: str) -> str:
    """An open_clip registry name for spec.name, registering a JSON config file when given one."""
    if name.startswith(("hf-hub:", "local-dir:")):
        return name  # open_clip resolves these schemas itself
    if name.endswith(".json"):
        path = Path(name).expanduser()
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelUnavailable(f"Cannot read model config {path}: {e}.") from e
        missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if k not in cfg]
        if missing:
            raise ModelUnavailable(
                f"Model config {path} lacks {', '.join(missing)}; it is not an open_clip config."
            )
        # add_model_config re-reads every registered path, so register each file only once.
        if path.stem not in open_clip.list_models() or open_clip.get_model_config(path.stem) != cfg:
            open_clip.add_model_config(path)
        return path.stem
    known = open_clip.list_models()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=4, cutoff=0.5) or [
            "ViT-B-32",
            "ViT-B-16",
            "ViT-L-14",
        ]
        raise ModelUnavailable(
            f"Unknown model '{name}'; did you mean {', '.join(close)}? (open_clip.list_models() has all names)"
        )
    return name


def _progress_tqdm(progress: Progress) -> type:
    """A silent tqdm class that forwards byte counts to `progress`; huggingface_hub accepts it."""
    from tqdm.auto import tqdm

    class _Reporter(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self._done = int(kwargs.get("initial") or 0)

        def update(self, n: float | None = 1) -> bool | None:
            self._done += int(n or 0)
            try:
                progress(self._done, int(self.total or 0))
            except Exception:  # a broken callback must not break the download
                log.exception("download progress callback failed")
            return None

    return _Reporter


def _fetch_pretrained(name: str, tag: str, cache_dir: str | None, progress: Progress | None) -> None:
    """Download the weights of an open_clip pretrained tag into the cache (or find them there).

    open_clip then finds the file in the cache; doing the download here gives us progress and a
    clear error instead of open_clip's RuntimeError chain.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    cfg = open_clip.get_pretrained_cfg(name, tag)
    hub = cfg.get("hf_hub", "")
    what = f"{name} ({tag})"
    if not hub:  # url-only or file entries: open_clip downloads them itself, without our progress
        return
    repo_id, filename = os.path.split(hub)
    filename = filename or "open_clip_pytorch_model.bin"
    # open_clip prefers a .safetensors sibling of a .bin/.pth file; try it first, as it does.
    candidates = [filename]
    if filename.endswith((".bin", ".pth")):
        candidates.insert(0, filename[:-4] + ".safetensors")
    tqdm_class = _progress_tqdm(progress) if progress else None
    last: Exception | None = None
    for candidate in candidates:
        try:
            hf_hub_download(repo_id, candidate, cache_dir=cache_dir, tqdm_class=tqdm_class)
            return
        except LocalEntryNotFoundError as e:  # offline mode, or the hub cannot be reached
            raise ModelUnavailable(
                f"Could not download {what}: no network connection. "
                f"Download it on a connected machine, or {_LOCAL_HINT}."
            ) from e
        except (EntryNotFoundError, RepositoryNotFoundError) as e:  # after its subclass above
            last = e
        except Exception as e:
            raise ModelUnavailable(f"Could not download {what}: {_one_line(e)}. Or {_LOCAL_HINT}.") from e
    raise ModelUnavailable(
        f"Could not download {what}: {repo_id}/{filename} is not on the hub; {_LOCAL_HINT}."
    ) from last


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__).rstrip(".")


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict without executing pickled code: safetensors, or torch.load(weights_only=True).

    Accepts {"state_dict": ...} wrappers and "module." prefixes (DataParallel/DDP checkpoints).
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelUnavailable(f"Cannot read checkpoint {path}: {_one_line(e)}.") from e
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelUnavailable(f"Checkpoint {path} does not hold a state dict of tensors.")
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}


def _load_local_checkpoint(model: torch.nn.Module, path: Path, name: str) -> None:
    from open_clip.convert import convert_state_dict
    from open_clip.model import resize_pos_embed, resize_text_pos_embed

    state = read_checkpoint(path)
    if any("reparam_conv" in key for key in state):  # saved from a re-parameterised MobileCLIP tower
        forward.reparameterize(model)
    try:
        # The same massaging open_clip's own load_checkpoint applies (third-party layouts, other
        # image sizes), then a strict load so a checkpoint of another architecture is refused.
        state = convert_state_dict(model, state)
        if "logit_scale" in state:
            state["logit_scale"] = state["logit_scale"].reshape(model.logit_scale.shape)
        resize_pos_embed(state, model)
        resize_text_pos_embed(state, model)
        model.load_state_dict(state, strict=True)
    except Exception as e:
        raise ModelUnavailable(f"Checkpoint {path} does not fit model {name}: {_one_line(e)}.") from e


def _build_model(
    spec: ModelSpec, device: str, cache_dir: str | None, progress: Progress | None
) -> tuple[torch.nn.Module, str]:
    name = _resolve_model_name(spec.name)
    pretrained = spec.pretrained
    local: Path | None = None
    tag: str | None = None
    if pretrained:
        candidate = Path(pretrained).expanduser()
        if candidate.is_file():
            local = candidate
        elif candidate.suffix in CHECKPOINT_SUFFIXES or os.sep in pretrained:
            raise ModelUnavailable(f"Checkpoint file {candidate} does not exist.")
        elif not name.startswith(("hf-hub:", "local-dir:")):
            if not open_clip.get_pretrained_cfg(name, pretrained):
                tags = open_clip.list_pretrained_tags_by_model(name)
                choices = ", ".join(tags[:5]) if tags else "none are published for it"
                raise ModelUnavailable(
                    f"'{pretrained}' is neither a checkpoint file nor a pretrained tag of {name} ({choices})."
                )
            tag = pretrained
            _fetch_pretrained(name, tag, cache_dir, progress)
    precision = "fp16" if device.startswith("cuda") else "fp32"
    try:
        # A private RNG seeded with 0: every process builds the same random weights, and the
        # caller's global RNG is left alone.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = open_clip.create_model(
                name,
                pretrained=tag,
                precision=precision,
                device=device,
                cache_dir=cache_dir,
                pretrained_text=False,  # never fetch HF base text weights behind the user's back
            )
    except ModelUnavailable:
        raise
    except Exception as e:
        source = f" ({tag})" if tag else ""
        raise ModelUnavailable(f"Could not load model {name}{source}: {_one_line(e)}.") from e
    if local is not None:
        _load_local_checkpoint(model, local, name)
        model.to(device)
    if tag is None:
        _use_published_preprocessing(model, name)
    forward.reparameterize(model)
    model.eval()
    return model, name


def _use_published_preprocessing(model: torch.nn.Module, name: str) -> None:
    """Give a model built without a pretrained tag (random init, or a local checkpoint file) the
    preprocessing its published weights were trained with, when all of them agree: SigLIP's and
    MobileCLIP's means and resizing differ from CLIP's, which open_clip assumes without a tag."""
    from open_clip.model import set_model_preprocess_cfg
    from open_clip.transform import merge_preprocess_dict

    keys = ("mean", "std", "interpolation", "resize_mode")
    tags = open_clip.list_pretrained_tags_by_model(name) if name in open_clip.list_models() else []
    published = {tuple(open_clip.get_pretrained_cfg(name, t).get(k) for k in keys) for t in tags}
    if len(published) != 1:
        return
    values = dict(zip(keys, published.pop(), strict=True))
    current = open_clip.get_model_preprocess_cfg(model)
    set_model_preprocess_cfg(model, merge_preprocess_dict(current, values))


def _load_tokenizer(name: str, cache_dir: str | None) -> Any:
    """The model's tokenizer; Hugging Face ones (SigLIP's) need `transformers` and, once, the network."""
    hf_name = (open_clip.get_model_config(name) or {}).get("text_cfg", {}).get("hf_tokenizer_name")
    if hf_name:
        try:
            import transformers  # noqa: F401
        except ImportError as e:
            raise ModelUnavailable(
                f"Model {name} needs the Hugging Face tokenizer {hf_name}: pip install 'viewfinder[hf]'."
            ) from e
    try:
        return open_clip.get_tokenizer(name, cache_dir=cache_dir)
    except Exception as e:
        raise ModelUnavailable(f"Could not load the tokenizer of {name}: {_one_line(e)}.") from e


class Encoder:
    """An open_clip dual encoder in eval mode, with the operations the engine needs.

    Build one with `Encoder.load(spec)`. All outputs are float32 numpy arrays, L2-normalised.
    """

    def __init__(self, spec: ModelSpec, model: torch.nn.Module, tokenizer: Any, device: str, dim: int):
        self.spec = spec
        self.towers: runtime.Towers | None = None  # the fast runtime's graphs, when in use
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.dim = dim
        cfg = open_clip.get_model_preprocess_cfg(model)
        size = cfg.get("size", 224)
        self.image_size: tuple[int, int] = (
            (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        )
        self._pp_mean = np.asarray(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN), np.float32)
        self._pp_std = np.asarray(cfg.get("std", open_clip.OPENAI_DATASET_STD), np.float32)
        self._pp_resample = (
            Image.Resampling.BILINEAR if cfg.get("interpolation") == "bilinear" else Image.Resampling.BICUBIC
        )
        self._pp_mode = cfg.get("resize_mode", "shortest")
        self._pp_fallback: Callable[[Image.Image], torch.Tensor] | None = None
        if self._pp_mode not in ("shortest", "squash") or (
            self._pp_mode == "shortest" and self.image_size[0] != self.image_size[1]
        ):
            self._pp_fallback = image_transform_v2(PreprocessCfg(**cfg), is_train=False)
        self._input_dtype = torch.float16 if device.startswith("cuda") else torch.float32

    @classmethod
    def load(
        cls,
        spec: ModelSpec,
        device: str = "auto",
        *,
        cache_dir: str | None = None,
        progress: Progress | None = None,
        precision: str | None = None,
        tokenizer: Callable[[list[str]], torch.Tensor] | None = None,
    ) -> Encoder:
        """Build the model of `spec` on `device` ("auto", "cpu", "cuda", "mps").

        On the CPU both towers then run through the fast runtime (engine/runtime.py) at
        `precision` ("auto", "fp32", "bf16", "int8"; default $VIEWFINDER_PRECISION, else auto),
        exported and checked once per model; torch when the runtime is not installed, cannot take
        the model, its check fails, or the precision is "torch".

        Raises ModelUnavailable (one sentence) when the model or its weights cannot be had, and
        ViewfinderError for an unavailable device. `progress(done_bytes, total_bytes)` is called
        while weights download (best effort). `tokenizer` (texts -> (N, context) ids) replaces the
        model's own, which is loaded first otherwise: a missing tokenizer fails before the weights.
        """
        device = pick_device(device)
        if tokenizer is None:
            tokenizer = _load_tokenizer(_resolve_model_name(spec.name), cache_dir)
        model, name = _build_model(spec, device, cache_dir, progress)
        model_cfg = open_clip.get_model_config(name) or {}
        dim = int(model_cfg.get("embed_dim") or 0)
        encoder = cls(spec, model, tokenizer, device, dim)
        if not dim:  # schema-loaded configs: measure it
            encoder.dim = encoder.encode_texts(["a"]).shape[1]
        if device == "cpu":
            encoder.towers = encoder._runtime_towers(precision)
        log.info(
            "loaded %s (%s) on %s, dim %d, %s",
            name,
            spec.pretrained or "random init",
            device,
            encoder.dim,
            f"OpenVINO {encoder.towers.precision}" if encoder.towers else "torch",
        )
        return encoder

    def _runtime_towers(self, precision: str | None) -> runtime.Towers | None:
        """The model's runtime graphs: cached, or exported and checked now. None means torch."""
        precision = runtime.resolve_precision(precision)
        if precision == "torch" or not runtime.available() or self._pp_fallback is not None:
            return None
        folder = runtime.graph_dir(default_cache_dir(), self.spec.cache_key)
        verdict = runtime.cached_verdict(folder, precision)
        if verdict is not None and not verdict.ok:
            log.info("the runtime graphs of %s failed their check at %s: using torch", self.spec.name, precision)
            return None
        towers = runtime.load(folder, precision) if verdict is not None else None
        if towers is not None:
            return towers
        try:
            return runtime.export(
                self.model, folder, precision, self.image_size, self.tokenize, self._tokenizer_meta()
            )
        except ViewfinderError:
            raise
        except Exception as e:  # an operator the converter lacks: torch still works
            log.warning("cannot export %s to the runtime (%s): using torch", self.spec.name, _one_line(e))
            return None

    def _tokenizer_meta(self) -> dict | None:
        """How engine/clip_tokenizer.py can stand in for this model's tokenizer (None: it cannot)."""
        tokenizer = self.tokenizer
        plain = (
            type(tokenizer) is SimpleTokenizer
            and len(tokenizer.all_special_ids) == 2
            and tokenizer.reduction_fn is None
            and getattr(tokenizer.clean_fn, "__name__", "") == "_clean_lower"
        )
        if not plain:
            return None
        model: Any = self.model
        eos = int(model.text_eos_id) if self.is_token_truncatable and model.text_pool_type == "eos" else None
        return {"context_length": int(tokenizer.context_length), "eos_id": eos, "dim": self.dim}

    # ----- images -------------------------------------------------------------------------------

    @property
    def preprocess_mode(self) -> str:
        """"shortest" (shorter side resized, centre crop) or "squash" (whole photo resized)."""
        return str(self._pp_mode)

    @property
    def preprocess_mean(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in self._pp_mean)  # type: ignore[return-value]

    @property
    def preprocess_std(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in self._pp_std)  # type: ignore[return-value]

    def preprocess_image(self, img: Image.Image) -> torch.Tensor:
        """The model's eval preprocessing as a (3, H, W) float32 tensor."""
        return torch.from_numpy(self.preprocess_array(img))

    def preprocess_array(self, img: Image.Image) -> np.ndarray:
        """The model's eval preprocessing as a (3, H, W) float32 array (no torch needed).

        Same output as open_clip's transform (shorter side resized, centre crop, normalise), but
        resampling only the cropped region and normalising in numpy, which is several times faster
        on large photos.
        """
        if self._pp_fallback is not None:
            return self._pp_fallback(img).numpy()
        if img.mode != "RGB":
            img = img.convert("RGB")
        th, tw = self.image_size
        w, h = img.size
        if self._pp_mode == "squash":
            out = img.resize((tw, th), self._pp_resample)
        else:
            # Resize + centre crop, mapped back to source pixels so that PIL resamples just the
            # crop (PIL's box keeps the filter's support outside it).
            new_w, new_h, left, top = resize_crop((w, h), self.image_size)
            if new_w > w or new_h > h:
                # Upscaling a small image is cheap, and PIL's box path rounds differently there.
                out = img.resize((new_w, new_h), self._pp_resample).crop((left, top, left + tw, top + th))
            else:
                sx, sy = w / new_w, h / new_h
                box = (left * sx, top * sy, (left + tw) * sx, (top + th) * sy)
                out = img.resize((tw, th), self._pp_resample, box=box)
        arr = np.asarray(out, dtype=np.float32) * (1.0 / 255.0)
        arr = (arr - self._pp_mean) / self._pp_std
        return np.ascontiguousarray(arr.transpose(2, 0, 1))

    def input_crop(self, photo_size: tuple[int, int] | None) -> tuple[float, float, float, float]:
        """The part of an upright photo of this (width, height) the model sees, as fractions
        (x0, y0, x1, y1): the centre crop, or all of it when the model squashes. An unknown size
        counts as the whole photo."""
        if photo_size is None or self._pp_mode == "squash":
            return (0.0, 0.0, 1.0, 1.0)
        new_w, new_h, left, top = resize_crop(photo_size, self.image_size)
        th, tw = self.image_size
        return (left / new_w, top / new_h, min(1.0, (left + tw) / new_w), min(1.0, (top + th) / new_h))

    def encode_images(self, batch: torch.Tensor | np.ndarray) -> np.ndarray:
        """(N, 3, H, W) preprocessed images -> (N, D) float32 unit vectors."""
        if self.towers is not None:
            return self.towers.encode_images(batch.numpy() if isinstance(batch, torch.Tensor) else batch)
        if isinstance(batch, np.ndarray):
            batch = torch.from_numpy(batch)
        with torch.inference_mode():
            return forward.image_vectors(self.model, batch.to(self.device, self._input_dtype)).cpu().numpy()

    def encode_images_and_grids(self, batch: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """`encode_images` and, from the same pass, each photo's patch grid (N, rows, cols, D)
        (engine/forward.py image_grid), what the tag stage's window cache reads; None for towers
        without patch tokens."""
        if self.towers is not None:
            pixels = batch.numpy() if isinstance(batch, torch.Tensor) else batch
            return self.towers.encode_images_and_grids(pixels)
        if not self.supports_patch_tokens:
            return self.encode_images(batch), None
        if isinstance(batch, np.ndarray):
            batch = torch.from_numpy(batch)
        with torch.inference_mode():
            vectors, grids = forward.image_grid(self.model, batch.to(self.device, self._input_dtype))
            return vectors.cpu().numpy(), grids.float().cpu().numpy()

    @property
    def supports_patch_tokens(self) -> bool:
        """True when `image_tokens` works: a ViT pooled from tokens, an OpenAI ResNet, SigLIP's or
        MobileCLIP's tower."""
        return forward.has_patch_tokens(self.model)

    @cached_property
    def patch_grid(self) -> tuple[int, int]:
        """The (rows, cols) grid of `image_tokens`, from one pass over a blank input (towers keep
        it in different places, or only know it once they see an image)."""
        return self.image_tokens(torch.zeros((1, 3, *self.image_size)))[2]

    def image_tokens(
        self, batch: torch.Tensor, *, clearclip: bool = False
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """Global vectors and per-patch vectors in the joint space, from one forward pass.

        Returns (pooled (N, D), patches (N, rows*cols, D), (rows, cols)); every vector is unit
        length. `pooled` is always the unmodified model's image vector. With `clearclip`, the
        patches come from the ClearCLIP variant of the last block (q-q attention on the values, no
        residual, no MLP), which localises far better on pretrained models.
        """
        if not self.supports_patch_tokens:
            raise ViewfinderError(f"Model {self.spec.name} has no patch tokens (its image tower pools them away).")
        with torch.inference_mode():
            pixels = batch.to(self.device, self._input_dtype)
            pooled, patches, grid = forward.image_patches(self.model, pixels, clearclip=clearclip)
            return pooled.cpu().numpy(), patches.cpu().numpy(), grid

    # ----- texts --------------------------------------------------------------------------------

    @property
    def is_token_truncatable(self) -> bool:
        """True for causal text towers pooled at the end-of-text token: encoding can stop there."""
        return forward.is_causal_text(self.model)

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids (N, context_length) as the model's tokenizer makes them."""
        return self.tokenizer(list(texts))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (N, D) float32 unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        parts = []
        with torch.inference_mode():
            for start in range(0, len(texts), _TEXT_BATCH):
                ids = self.tokenize(texts[start : start + _TEXT_BATCH]).to(self.device)
                if self.towers is not None and self.towers.has_text and not self.towers.causal:
                    parts.append(self.towers.encode_ids(ids.numpy()))
                elif self.towers is not None and self.towers.has_text:
                    positions = forward.pool_positions(self.model, ids).numpy()
                    parts.append(self.towers.encode_ids(runtime.cut_ids(ids.numpy(), positions), positions))
                else:
                    parts.append(forward.text_vectors(self.model, ids).cpu().numpy())
        return np.concatenate(parts)

    @property
    def supports_word_tokens(self) -> bool:
        """True when `text_tokens` and `words` work: CLIP's tokenizer and a causal text tower."""
        return isinstance(self.tokenizer, SimpleTokenizer) and self.is_token_truncatable

    def _content_ids(self, text: str) -> tuple[torch.Tensor, list[int]]:
        """Token ids (1, context) of `text` and the positions of its content tokens."""
        if not self.supports_word_tokens:
            raise ViewfinderError(f"Model {self.spec.name} does not provide per-word vectors.")
        ids = self.tokenize([text])
        special = {self.tokenizer.sot_token_id, self.tokenizer.eot_token_id, 0}
        end = int(forward.pool_positions(self.model, ids)[0])
        return ids, [i for i in range(end) if int(ids[0, i]) not in special]

    def text_tokens(self, text: str) -> tuple[list[str], np.ndarray]:
        """Per-token vectors of one text in the joint space: (token strings, (T, D) unit vectors).

        Start/end-of-text and padding are left out. Each token's vector only sees the tokens
        before it (causal tower), as in FILIP-style late interaction on CLIP.
        """
        ids, positions = self._content_ids(text)
        if not positions:
            return [], np.zeros((0, self.dim), np.float32)
        with torch.inference_mode():
            hidden = forward.text_hidden(self.model, ids[:, : positions[-1] + 1].to(self.device))
            vectors = F.normalize(hidden[0, positions].float(), dim=-1).cpu().numpy()
        tokens = [self._decode([int(ids[0, i])]) for i in positions]
        return tokens, vectors

    def words(self, text: str) -> list[tuple[str, list[int]]]:
        """The words of `text`, each with the indices of its tokens in `text_tokens(text)`.

        BPE splits rare words ("labr" + "ador"); the tokenizer marks the last piece of each word
        with "</w>", which is where a word ends.
        """
        ids, positions = self._content_ids(text)
        tokenizer: SimpleTokenizer = self.tokenizer
        result: list[tuple[str, list[int]]] = []
        pending: list[int] = []
        for index, pos in enumerate(positions):
            pending.append(index)
            if tokenizer.decoder[int(ids[0, pos])].endswith("</w>"):
                result.append((self._decode([int(ids[0, positions[i]]) for i in pending]), pending))
                pending = []
        if pending:  # text cut at the context length mid-word
            result.append((self._decode([int(ids[0, positions[i]]) for i in pending]), pending))
        return result

    def _decode(self, token_ids: list[int]) -> str:
        tokenizer: SimpleTokenizer = self.tokenizer
        pieces = "".join(tokenizer.decoder[t] for t in token_ids).replace("</w>", "")
        return bytearray(tokenizer.byte_decoder[c] for c in pieces).decode("utf-8", errors="replace")


def resize_crop(photo_size: tuple[int, int], image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """torchvision's Resize(shorter side) + CenterCrop arithmetic for a (w, h) photo and an (h, w)
    model input: (resized width, resized height, crop left, crop top)."""
    w, h = photo_size
    th, tw = image_size
    if w <= h:
        new_w, new_h = th, int(th * h / w)
    else:
        new_w, new_h = int(th * w / h), th
    return new_w, new_h, int(round((new_w - tw) / 2.0)), int(round((new_h - th) / 2.0))
