// Opens a websocket to this site, ws:// or wss:// following the page, and reconnects.
window.openLiveSocket = function (path, handlers) {
  "use strict";
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  let socket = null;
  let retryMs = 1000;
  function connect() {
    socket = new WebSocket(scheme + window.location.host + path);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      retryMs = 1000;
      if (handlers.open) handlers.open(socket);
    };
    socket.onmessage = (event) => handlers.message(JSON.parse(event.data));
    socket.onclose = () => {
      if (handlers.close) handlers.close();
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    };
  }
  connect();
  return {
    send: (data) => socket && socket.readyState === WebSocket.OPEN && (socket.send(data), true),
    isOpen: () => socket && socket.readyState === WebSocket.OPEN,
  };
};
