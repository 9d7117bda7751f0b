"""A broad lexicon of general English photo vocabulary: the built-in rivals of calibration.

A search text that only echoes a concept the model knows better under another name ("orange" on red
photos) is caught by a rival: a related text that describes the photo clearly better
(engine/calibration.py). The user's past searches are rivals; so is this list, so that a library
with no search history is calibrated as well. It is written once from general sources, never for a
particular collection (docs/search.md says where each group comes from):

- colours: the eleven basic colour terms of English (Berlin and Kay, 1969);
- objects: the 80 object classes of the COCO data set (Lin et al., 2014), in plain words;
- scenes: common places and settings of everyday photos (in the spirit of the Places categories);
- textures: the 47 categories of the Describable Textures Dataset (Cimpoi et al., 2014);
- shapes, sizes, counts, materials, light, weather, seasons and times of day: first words of any
  picture vocabulary.
"""

from __future__ import annotations

# fmt: off
COLOURS = ("black", "white", "red", "green", "yellow", "blue", "brown", "purple", "pink", "orange", "grey")
OBJECTS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "ball", "kite", "baseball bat",
    "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup",
    "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "broccoli", "carrot",
    "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table",
    "toilet", "television", "laptop", "computer mouse", "remote control", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)
SCENES = (
    "beach", "sea", "lake", "river", "waterfall", "mountain", "forest", "field", "desert", "garden",
    "park", "city", "street", "road", "bridge", "building", "house", "church", "castle", "farm",
    "kitchen", "bedroom", "living room", "bathroom", "office", "classroom", "restaurant", "shop",
    "market", "airport", "station", "stadium", "playground", "swimming pool", "sky", "clouds",
    "snow", "ice", "grass", "sand", "rocks", "trees", "flowers", "crowd", "party", "wedding",
    "concert", "portrait", "selfie", "landscape", "food", "animal", "plant", "text", "document",
)
TEXTURES = (
    "banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed", "cracked",
    "crosshatched", "crystalline", "dotted", "fibrous", "flecked", "freckled", "frilly", "gauzy",
    "grid", "grooved", "honeycombed", "interlaced", "knitted", "lacelike", "lined", "marbled",
    "matted", "meshed", "paisley", "perforated", "pitted", "pleated", "polka-dotted", "porous",
    "potholed", "scaly", "smeared", "spiralled", "sprinkled", "stained", "stratified", "striped",
    "studded", "swirly", "veined", "waffled", "woven", "wrinkled", "zigzagged",
)
SHAPES = ("circle", "square", "triangle", "rectangle", "oval", "star", "heart", "cross", "line", "curve")
SIZES_AND_COUNTS = ("small", "large", "tiny", "huge", "one", "two", "three", "many", "group", "pair")
MATERIALS = ("wood", "metal", "glass", "stone", "plastic", "paper", "fabric", "leather", "water", "fire")
LIGHT_AND_WEATHER = ("bright", "dark", "sunny", "cloudy", "rainy", "foggy", "snowy", "shadow", "reflection")
SEASONS_AND_TIMES = ("spring", "summer", "autumn", "winter", "morning", "evening", "night", "sunrise", "sunset")
# fmt: on

GROUPS: dict[str, tuple[str, ...]] = {
    "colours": COLOURS,
    "objects": OBJECTS,
    "scenes": SCENES,
    "textures": TEXTURES,
    "shapes": SHAPES,
    "sizes and counts": SIZES_AND_COUNTS,
    "materials": MATERIALS,
    "light and weather": LIGHT_AND_WEATHER,
    "seasons and times": SEASONS_AND_TIMES,
}


def lexicon_without(leave_out: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Every word of the lexicon once, in group order; `leave_out` names groups to drop."""
    return tuple(dict.fromkeys(w for name, words in GROUPS.items() if name not in leave_out for w in words))


LEXICON = lexicon_without()
