"""Reference for test_resize: what torchvision's Resize does to a PIL 'L' image.

Usage: resize_ref.py IN OUT. IN holds records of four little-endian int32 (sh, sw, dh, dw)
followed by sh*sw uint8 pixels (row-major); OUT gets, for each record, the dh*dw bytes of
Image.resize((dw, dh), BILINEAR). A missing PIL is an error (exit status 2), never a skip,
so that the byte-exact check cannot pass vacuously.
"""
import struct
import sys

try:
    from PIL import Image
except ImportError as e:
    sys.stderr.write("resize_ref.py: PIL is required (install python3-pil): %s\n" % e)
    sys.exit(2)

# torchvision maps InterpolationMode.BILINEAR to this constant.
BILINEAR = getattr(getattr(Image, "Resampling", Image), "BILINEAR")


def main(src, dst):
    data = open(src, "rb").read()
    out = []
    pos = 0
    while pos < len(data):
        sh, sw, dh, dw = struct.unpack_from("<4i", data, pos)
        pos += 16
        img = Image.frombytes("L", (sw, sh), data[pos:pos + sh * sw])
        pos += sh * sw
        res = img.resize((dw, dh), BILINEAR)
        assert res.size == (dw, dh) and res.mode == "L"
        out.append(res.tobytes())
    with open(dst, "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write("usage: resize_ref.py IN OUT\n")
        sys.exit(2)
    main(sys.argv[1], sys.argv[2])
