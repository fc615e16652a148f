"""A real RTSP server for the camera tests: GStreamer's (gst-rtsp-server), H.264 made from JPEG photos.

Run by Debian's ``/usr/bin/python3`` (PyGObject and the GStreamer typelibs come
from Debian's packages; scripts/test.sh installs them):

    /usr/bin/python3 tests/rtsp_server.py PORT '/dir/%03d.jpg' FPS KEYINT

It serves rtsp://127.0.0.1:PORT/cam, looping over the photos (all of one size)
at FPS frames per second with a key frame every KEYINT frames, prints
``ready PORT`` and runs until killed. The project's code never imports this.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, pattern, fps, keyint = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( multifilesrc location="{pattern}" loop=true caps="image/jpeg,framerate={fps}/1" ! jpegdec ! '
        f"videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={keyint} ! "
        "rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"could not listen on 127.0.0.1:{port}")
    print("ready", server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
