"""The listing renderers' fast paths (a whole page's values checked at once, seconds formatted
once per page) write exactly what the per-value helpers they replaced wrote."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from alexanderd.front.errors import xml_escape, xml_plain
from alexanderd.front.s3types import iso8601_ms
from alexanderd.front.xml import iso8601_ms_all, list_objects_v1_xml, list_objects_v2_xml
from protocol.meta import ObjectList, ObjectSummary

# The escaping rules, written out character by character as an independent oracle for the
# fast paths: five characters become entities, characters XML 1.0 cannot carry become U+FFFD.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"}


def _xml_char(c: str) -> bool:
    code = ord(c)
    return (
        c in "\t\n\r"
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def reference_escape(text: str) -> str:
    return "".join(_ENTITIES.get(c, c) if _xml_char(c) else "\ufffd" for c in text)


def reference_contents(items: list[ObjectSummary], encode: bool, owner: bool) -> str:
    def key_text(key: str) -> str:
        return quote(key, safe="/") if encode else reference_escape(key)

    parts = []
    for o in items:
        storage = reference_escape(o.storage_class)
        parts.append(
            f"<Contents><Key>{key_text(o.key)}</Key>"
            f"<LastModified>{iso8601_ms(o.last_modified)}</LastModified>"
            f"<ETag>&quot;{reference_escape(o.etag.strip(chr(34)))}&quot;</ETag>"
            f"<Size>{o.size}</Size><StorageClass>{storage}</StorageClass>"
        )
        if owner:
            parts.append(
                f"<Owner><ID>{reference_escape(o.owner_id)}</ID>"
                f"<DisplayName>{reference_escape(o.owner_name)}</DisplayName></Owner>"
            )
        parts.append("</Contents>")
    return "".join(parts)


def test_escape_of_every_ascii_character() -> None:
    for code in range(0x80):
        char = chr(code)
        for text in (char, f"a{char}b", char * 3):
            assert xml_escape(text) == reference_escape(text), repr(text)
            assert xml_plain(text) == (reference_escape(text) == text), repr(text)


def test_escape_of_the_specials_exactly() -> None:
    assert xml_escape('&<>"') == "&amp;&lt;&gt;&quot;"
    assert xml_escape("a\rb") == "a&#13;b"
    assert xml_escape("\t\n") == "\t\n"
    assert xml_escape("\x00\x08\x0b\x0c\x1f") == "\ufffd" * 5
    assert xml_escape("\x7f") == "\x7f"  # DEL is allowed in XML 1.0
    assert xml_escape("\ud800x\udfff") == "\ufffdx\ufffd"
    assert xml_escape("\ufffe\uffff\ufffd") == "\ufffd\ufffd\ufffd"


def test_escape_of_every_non_ascii_boundary() -> None:
    points = [0x80, 0x9F, 0xA0, 0x85, 0xD7FF, 0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xE000]
    points += [0xFFFD, 0xFFFE, 0xFFFF, 0x10000, 0x1F389, 0x10FFFF]
    for point in points:
        for text in (chr(point), f"k{chr(point)}&"):
            assert xml_escape(text) == reference_escape(text), hex(point)
            assert xml_plain(text) == (reference_escape(text) == text), hex(point)


@given(st.text(alphabet=st.characters(codec=None)))
def test_escape_matches_the_reference(text: str) -> None:
    assert xml_escape(text) == reference_escape(text)
    assert xml_plain(text) == (reference_escape(text) == text)


@given(st.lists(st.floats(min_value=-1e10, max_value=4e10, allow_nan=False)))
def test_timestamps_of_a_page_match_one_by_one(epochs: list[float]) -> None:
    assert iso8601_ms_all(epochs) == [iso8601_ms(epoch) for epoch in epochs]


def test_timestamps_rounding_into_the_next_second_and_day() -> None:
    epochs = [0.0, 0.0005, 0.9995, 59.9996, 86399.9995, -0.0004, -0.0006, 1764380000.9999]
    assert iso8601_ms_all(epochs) == [iso8601_ms(epoch) for epoch in epochs]
    assert iso8601_ms_all([86399.9995, 86399.5]) == [
        "1970-01-02T00:00:00.000Z",
        "1970-01-01T23:59:59.500Z",
    ]


_KEYS = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12) | st.sampled_from(
    ["list/1", "a b", "a+b", "~x_y.z-/", "&amp;", 'q"', "cr\r", "\x01", "ünï", "🎉/x"]
)
_SUMMARIES = st.builds(
    ObjectSummary,
    key=_KEYS,
    size=st.integers(min_value=0, max_value=2**40),
    etag=st.sampled_from(["d41d8cd98f00b204e9800998ecf8427e", '"q"', "x-2", "<&>"]),
    last_modified=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    storage_class=st.sampled_from(["STANDARD", "STANDARD_IA", "<odd&>"]),
    owner_id=st.sampled_from(["", "a" * 64, "b&c"]),
    owner_name=st.sampled_from(["", "alice", "<bob>"]),
)


def _body(xml: bytes) -> str:
    text = xml.decode()
    start = text.find("<Contents>")
    return text[start : text.rfind("</Contents>") + len("</Contents>")] if start >= 0 else ""


@settings(max_examples=300)
@given(st.lists(_SUMMARIES, max_size=8), st.booleans(), st.booleans())
def test_page_renders_as_entry_by_entry(
    items: list[ObjectSummary], encode: bool, owner: bool
) -> None:
    result = ObjectList(contents=items)
    v2 = list_objects_v2_xml("bkt", result, encoding_url=encode, fetch_owner=owner)
    assert _body(v2) == reference_contents(items, encode, owner)
    v1 = list_objects_v1_xml("bkt", result, encoding_url=encode, owner=owner)
    assert _body(v1) == reference_contents(items, encode, owner)


@given(st.lists(_KEYS, max_size=6), st.booleans())
def test_common_prefixes_render_as_one_by_one(prefixes: list[str], encode: bool) -> None:
    xml = list_objects_v2_xml("bkt", ObjectList(common_prefixes=prefixes), encoding_url=encode)
    expected = "".join(
        "<CommonPrefixes><Prefix>"
        + (quote(p, safe="/") if encode else reference_escape(p))
        + "</Prefix></CommonPrefixes>"
        for p in prefixes
    )
    assert expected in xml.decode()
    assert xml.decode().count("<CommonPrefixes>") == len(prefixes)
