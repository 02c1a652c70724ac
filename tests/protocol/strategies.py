"""Hypothesis strategies for Engine.IO / Socket.IO values."""

from __future__ import annotations

from hypothesis import strategies as st

from wsbench.protocol import RESERVED_EVENTS, SioPacket, SioPacketType

# Every code point but surrogates: BMP, astral, controls (\x00, \x1e), line separators.
# The interesting ones are boosted so that short runs meet them.
any_text = st.text(
    st.characters(exclude_categories=("Cs",))
    | st.sampled_from(["\x1e", "\x00", "\u2028", "\U0001f600", "\U0010ffff", '"', "\\", ","]),
    max_size=20,
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
)

# "_placeholder" keys are reserved by the binary encoding: a user object shaped like a
# placeholder is indistinguishable from one on the wire (spec "Packet encoding").
keys = any_text.filter(lambda k: k != "_placeholder")


def json_values(binary: bool = True) -> st.SearchStrategy:
    leaves = json_scalars | st.binary(max_size=16) if binary else json_scalars
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=12,
    )


json_objects = st.dictionaries(keys, json_values(binary=False), max_size=4)

namespaces = st.just("/") | any_text.filter(lambda s: "," not in s).map(lambda s: "/" + s)
ack_ids = st.integers(min_value=0, max_value=2**53 - 1)  # socketio.MAX_ACK_ID
event_names = any_text.filter(lambda s: s not in RESERVED_EVENTS) | st.integers(0, 2**31)


@st.composite
def events(draw, binary: bool = True) -> SioPacket:
    args = draw(st.lists(json_values(binary), max_size=4))
    packet_id = draw(st.none() | ack_ids)
    return SioPacket.event(draw(event_names), *args, namespace=draw(namespaces), id=packet_id)


@st.composite
def acks(draw, binary: bool = True) -> SioPacket:
    args = draw(st.lists(json_values(binary), max_size=4))
    return SioPacket.ack(draw(ack_ids), args, namespace=draw(namespaces))


def others() -> st.SearchStrategy:
    return st.one_of(
        st.builds(SioPacket.connect, namespaces, st.none() | json_objects),
        st.builds(SioPacket.disconnect, namespaces),
        st.builds(
            SioPacket.connect_error,
            any_text,
            st.none() | json_values(binary=False),
            namespace=namespaces,
        ),
        st.builds(
            lambda nsp, msg: SioPacket(SioPacketType.CONNECT_ERROR, nsp, msg), namespaces, any_text
        ),
    )


def sio_packets(binary: bool = True) -> st.SearchStrategy:
    return events(binary) | acks(binary) | others()
