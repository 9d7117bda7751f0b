"""`viewfinder tag / untag / tags / train / model` as a user runs them, on synthetic scenes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from personal_bench import WorldLibrary, tag_ap
from personal_world import make_concepts, personal_world, write_world
from synthetic import write_scenes

from app.cli import main


@pytest.fixture
def cli(tmp_path, capsys, tiny_config):
    library = tmp_path / "library"
    folder = tmp_path / "photos"
    photos = write_scenes(folder, 24, colours=2)

    def run(*args: str) -> tuple[int, str, str]:
        argv = list(args)
        if args[0] == "model":
            argv.insert(2, "--library")
            argv.insert(3, str(library))
        else:
            argv += ["--library", str(library)]
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    code = main(["index", str(folder), "--library", str(library), "--model", str(tiny_config)])
    capsys.readouterr()
    assert code == 0
    return run, photos


def test_tag_untag_tags_json(cli):
    run, photos = cli
    path = photos[0][0]
    code, out, err = run("tag", path, "Rex asleep on the sofa", "--highlight", "Rex=0.1,0.2,0.6,0.9")
    assert code == 0, err
    assert "Tagged" in out
    run("tag", photos[1][0], "Rex")
    code, out, _ = run("tags", "--json")
    tags = json.loads(out)
    assert [(t["path"], t["text"]) for t in tags] == [(photos[1][0], "Rex"), (path, "Rex asleep on the sofa")]
    assert tags[1]["highlights"] == [{"phrase": "Rex", "box": [0.1, 0.2, 0.6, 0.9], "mask": False}]
    assert tags[0]["highlights"] == []
    code, out, _ = run("untag", path, "Rex asleep on the sofa")
    assert code == 0 and "Removed 1" in out
    code, out, _ = run("tags", "--json")
    assert [t["text"] for t in json.loads(out)] == ["Rex"]
    code, out, _ = run("tags")
    assert code == 0 and "Rex" in out
    # A tag is renamed (merged into one of that name), or removed, on every photo at once.
    for path, _ in photos[1:4]:
        assert run("tag", path, "Max", "--highlight", "Max=0.2,0.2,0.8,0.8")[0] == 0
    code, out, err = run("tags", "rename", "Max", "Rex")
    assert code == 0 and "Renamed “Max” to “Rex” on 3 photos, merged into “Rex”." in out, err
    code, out, _ = run("tags", "--json")
    tags = json.loads(out)
    assert sorted(t["path"] for t in tags if t["text"] == "Rex") == sorted(p for p, _ in photos[1:4])
    assert [h["phrase"] for t in tags for h in t["highlights"]] == ["Rex"] * 3  # photo 1 gains Max's box
    code, out, err = run("tags", "remove", "Rex")
    assert code == 0 and "Removed the tag “Rex” from 3 photos; no photo was changed." in out, err
    code, out, _ = run("tags", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["tag", "/no/such.png", "Rex"], "is not in the library"),
        (["tag", "{photo}", "Rex", "--highlight", "Max=0,0,1,1"], "'Max' does not occur"),
        (["tag", "{photo}", "Rex", "--highlight", "Rex=0,0,2,1"], "between 0 and 1"),
        (["untag", "{photo}", "Nobody"], "has no tag 'Nobody'"),
        (["tags", "rename", "Nobody", "Rex"], "No photo is tagged 'Nobody'"),
        (["tags", "rename", "Rex", " "], "A tag needs some text"),
        (["tags", "remove", "Nobody"], "No photo is tagged 'Nobody'"),
        (["train"], "at least 3 tagged photos; the library has 0"),
        (["model", "use", "3"], "no model version 3"),
        (["model", "rollback"], "no earlier model"),
    ],
)
def test_user_errors_are_one_line(cli, args, message):
    run, photos = cli
    args = [a.replace("{photo}", photos[0][0]) for a in args]
    code, out, err = run(*args)
    assert code == 1
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_one_text_on_many_photos_in_one_call(cli, tmp_path, monkeypatch):
    run, photos = cli
    code, out, err = run("tag", "Rex", "--photos", photos[0][0], photos[1][0])
    assert code == 0 and "Tagged 2 photos: Rex" in out, err
    listing = tmp_path / "list.txt"
    listing.write_text(f"{photos[2][0]}\n\n{photos[3][0]}\n/no/such.png\n", encoding="utf-8")
    code, out, err = run("tag", "Rex", "--photos-from", str(listing))
    # The readable photos are tagged; the unknown one is named, and the exit status says so.
    assert code == 1 and "Tagged 2 photos" in out and "/no/such.png" in err and "Traceback" not in err
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(photos[4][0] + "\n"))
    code, out, err = run("tag", "Rex", "--photos-from", "-")
    assert code == 0, err
    code, out, _ = run("tags", "--json")
    assert sorted(t["path"] for t in json.loads(out)) == sorted(p for p, _ in photos[:5])
    code, out, err = run("tag", "Rex", "--photos", photos[0][0], "--highlight", "Rex=0,0,1,1")
    assert code == 1 and "--highlight marks one photo" in err


def test_a_list_of_photos_carries_each_photos_highlights(cli, tmp_path):
    run, photos = cli
    listing = tmp_path / "list.txt"
    listing.write_text(
        f"{photos[0][0]}\tRex=0.1,0.2,0.5,0.6\n{photos[1][0]}\n{photos[2][0]}\tRex=0,0,1,1\tRex=0.5,0.5,1,1\n",
        encoding="utf-8",
    )
    code, out, err = run("tag", "Rex", "--photos-from", str(listing))
    assert code == 0 and "Tagged 3 photos: Rex (2 with highlights)" in out, err
    code, out, _ = run("tags", "--json")
    boxes = {t["path"]: [h["box"] for h in t["highlights"]] for t in json.loads(out)}
    # a later highlight of the same phrase replaces the earlier one, as with --highlight
    assert boxes == {photos[0][0]: [[0.1, 0.2, 0.5, 0.6]], photos[1][0]: [], photos[2][0]: [[0.5, 0.5, 1, 1]]}
    # A malformed line is named and nothing of the list is tagged.
    listing.write_text(f"{photos[3][0]}\n{photos[4][0]}\tRex=0,0,1\n", encoding="utf-8")
    code, out, err = run("tag", "Rex", "--photos-from", str(listing))
    assert code == 1 and f"{listing}, line 2" in err and "four numbers" in err and "Traceback" not in err
    code, out, _ = run("tags", "--json")
    assert len(json.loads(out)) == 3


def test_a_list_of_captions_gives_each_photo_its_own_text_and_highlights(cli, tmp_path, monkeypatch):
    run, photos = cli
    listing = tmp_path / "captions.tsv"
    listing.write_text(
        f"{photos[0][0]}\tred square\tred=0.1,0.2,0.5,0.6\n\n{photos[1][0]}\tblue circle on grey\n"
        "/no/such.png\tred\n",
        encoding="utf-8",
    )
    code, out, err = run("tag", "--captions", str(listing))
    assert code == 1 and "Tagged 2 photos: each with its caption (1 with highlights)" in out, err
    assert "/no/such.png" in err and "Traceback" not in err
    code, out, _ = run("tags", "--json")
    tags = {t["path"]: (t["text"], [h["box"] for h in t["highlights"]]) for t in json.loads(out)}
    assert tags == {
        photos[0][0]: ("red square", [[0.1, 0.2, 0.5, 0.6]]),
        photos[1][0]: ("blue circle on grey", []),
    }
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(f"{photos[2][0]}\tgreen\n"))
    assert run("tag", "--captions", "-")[0] == 0
    # A line without its text is named and nothing of the list is tagged; --captions stands alone.
    listing.write_text(f"{photos[3][0]}\tblue\n{photos[4][0]}\n", encoding="utf-8")
    code, out, err = run("tag", "--captions", str(listing))
    assert code == 1 and f"{listing}, line 2: expected PATH<TAB>TEXT" in err and "Traceback" not in err
    assert len(json.loads(run("tags", "--json")[1])) == 3
    code, out, err = run("tag", "Rex", "--captions", str(listing))
    assert code == 1 and "--captions gives each photo its own text" in err


def test_bad_highlight_syntax_is_a_usage_error(cli, capsys):
    run, photos = cli
    with pytest.raises(SystemExit) as exc:
        run("tag", photos[0][0], "Rex", "--highlight", "Rex=0,0,1")
    assert exc.value.code == 2


def test_train_model_list_use_rollback(cli):
    run, photos = cli
    for path, colour in photos[:16]:
        assert run("tag", path, colour)[0] == 0
    code, out, err = run("train", "--tune", "text", "--epochs", "3", "--lr", "5e-4", "--force", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["version"] == 1 and result["activated"] is True
    for part in ("before", "after"):
        assert {"ap", "ap_se", "recall_at_k", "mean_rank", "k", "agreement"} <= set(result[part])
    assert result["verdict"]["decision"] in ("activated", "kept", "refused")
    code, out, _ = run("model", "list", "--json")
    listed = json.loads(out)
    assert [(v["version"], v["active"]) for v in listed] == [(1, True)]
    assert listed[0]["config"]["tune"] == "text" and "after" in listed[0]["metrics"]
    code, out, _ = run("search", "red", "-k", "5", "--json", "--all")
    tuned = json.loads(out)
    code, out, _ = run("model", "use", "0")
    assert code == 0 and "base model" in out
    code, out, _ = run("search", "red", "-k", "5", "--json", "--all")
    base = json.loads(out)
    assert base != tuned
    code, out, _ = run("model", "rollback")
    assert code == 0 and "version 1" in out
    code, out, _ = run("search", "red", "-k", "5", "--json", "--all")
    assert json.loads(out) == tuned
    assert Path(listed[0]["path"], "deltas.safetensors").is_file()
    # The base is at random init: it ranks everyday queries by chance, so they are not checked.
    code, out, err = run("train", "--tune", "text", "--epochs", "2", "--lr", "5e-4")
    assert code == 0 and "Model version 2" in out, err
    assert "generic-query agreement not checked (the base model is at random init)" in out


def test_heatmap_of_a_token_aligned_version_uses_its_own_patch_tokens(cli):
    """ClearCLIP's patch tokens suit a pretrained model; a version trained with --token-loss has
    its own tokens aligned with the words, and `heatmap` maps those without being told."""
    run, photos = cli
    photo = photos[20][0]

    def maps(*flags: str) -> dict:
        code, out, err = run("heatmap", photo, "red square", "--json", *flags)
        assert code == 0, err
        return json.loads(out)

    assert maps() != maps("--raw-tokens")  # the base: ClearCLIP unless asked
    for path, colour in photos[:16]:
        run("tag", path, colour, "--highlight", f"{colour}=0,0,1,1")
    code, out, err = run("train", "--tune", "text", "--token-loss", "--epochs", "2", "--force")
    assert code == 0 and "Switched on" in out, err
    assert maps() == maps("--raw-tokens")


def test_tagging_looks_closer_at_the_photos_most_like_the_tag(
    tmp_path, capsys, make_library, personal_encoder
):
    """`viewfinder tag` stores the tags, then looks at the photos most like the tag up close: its
    next search ranks with those crops (engine/tag_crops.py), unless --no-closer-look; `viewfinder
    index` looks at the tags no look has seen."""
    world = personal_world(make_concepts(["rex"], 213), seed=213)
    tagged, paths = write_world(world, tmp_path / "photos")
    library = make_library(encoder=personal_encoder)
    library.add_folders([tmp_path / "photos"])
    library.index()
    listing = tmp_path / "rex.txt"
    boxes = [p.box for p in world.tagged["rex"]]
    listing.write_text(
        "".join(
            f"{path}\trex={','.join(map(str, box))}\n" for path, box in zip(tagged["rex"], boxes, strict=True)
        ),
        encoding="utf-8",
    )
    wl = WorldLibrary(world, library, tagged, paths)
    code = main(
        ["tag", "rex", "--photos-from", str(listing), "--no-closer-look", "--library", str(library.path)]
    )
    out, err = capsys.readouterr()
    assert code == 0 and "Tagged 30 photos: rex (30 with highlights)" in out and "Looked closer" not in out, (
        err
    )
    before = tag_ap(wl, wl.search_scores("rex"), "rex")
    code = main(["index", "--no-closer-look", "--library", str(library.path)])
    out, err = capsys.readouterr()
    assert code == 0 and "photos indexed" in out and "Looked closer" not in out, err
    code = main(["index", "--library", str(library.path)])
    out, err = capsys.readouterr()
    assert (
        code == 0
        and "Looked closer at “rex”: held-out tagged photos rank above" in out
        and "its searches use it" in out
    ), err
    fresh = WorldLibrary(world, make_library(encoder=personal_encoder), tagged, paths)
    after = tag_ap(fresh, fresh.search_scores("rex"), "rex")
    print(f"{before:.3f} -> {after:.3f}")
    assert after > before + 0.02, (before, after)
    code = main(["tag", "rex", "--photos-from", str(listing), "--library", str(library.path)])
    out, err = capsys.readouterr()
    assert code == 0 and "Looked closer at “rex” before, and nothing has changed since" in out, err
    # Untagging changes the tag: the look is taken again.
    code = main(["untag", tagged["rex"][0], "rex", "--library", str(library.path)])
    out, err = capsys.readouterr()
    assert code == 0 and "Removed 1 tag(s)" in out and "Looked closer at “rex”" in out, err
