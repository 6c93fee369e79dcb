// 积分超市: the camera scanner shared by the shop counter and the organizer's scan page.
//
// Contract: inside a <form> holding <input name="X">, the markup
//   <div class="scanner" data-scanner data-target="X"></div>
// gets a big "扫码 / Scan" button. Pressing it opens the rear camera; a code read fills
// the input, stops the camera and submits the form (through the form's button marked
// data-scan-submit, if it has one, so that button's name and value are sent).
// Codes are read by the browser's BarcodeDetector where it reads QR codes, otherwise
// camera frames go to POST /scan/decode (same origin, CSRF token of the form's "csrf"
// field in the X-CSRF-Token header) about twice a second. Without a camera API (old
// WeChat, a page not served over HTTPS) a "take a photo" button opens the phone's camera
// app and the photo is decoded the same way. Without this script the input still takes
// a typed code or a USB scanner's.
"use strict";

(function scanner() {
  const boxes = document.querySelectorAll("[data-scanner]");
  if (!boxes.length) {
    return;
  }
  const english = (document.documentElement.lang || "").toLowerCase().startsWith("en");
  const TEXT = english ? {
    scan: "Scan",
    stop: "Stop scanning",
    photo: "Take a photo of the code",
    looking: "Point the camera at the code…",
    starting: "Opening the camera…",
    reading: "Reading the photo…",
    read: "Code read.",
    noCamera: "The camera could not be opened. Take a photo of the code instead, or type it.",
    noCode: "No code found in the photo. Try again closer, with the code in the middle.",
    failed: "The code could not be read. Type it instead.",
  } : {
    scan: "扫码",
    stop: "停止扫码",
    photo: "拍照识别二维码",
    looking: "请把摄像头对准二维码…",
    starting: "正在打开摄像头…",
    reading: "正在识别照片…",
    read: "已识别。",
    noCamera: "无法打开摄像头。请改为拍照识别，或手动输入号码。",
    noCode: "照片中没有找到二维码。请靠近一些、让二维码在画面中间再试。",
    failed: "无法识别该二维码，请手动输入号码。",
  };
  const FRAME_EVERY = 500;
  const DETECT_EVERY = 200;
  const MAX_FRAME_SIDE = 960;
  const MAX_PHOTO_SIDE = 1600;
  const hasCamera = Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([key, value]) => node.setAttribute(key, value));
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  // A detector only where the browser reads QR codes itself (not Chromium on Linux).
  async function nativeDetector() {
    if (!("BarcodeDetector" in window)) {
      return null;
    }
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      return formats.includes("qr_code") ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
    } catch (error) {
      return null;
    }
  }

  // The server's answer for one picture: the code's text, null for none, or an Error to show.
  async function decodeOnServer(blob, csrf) {
    const response = await fetch("/scan/decode", {
      method: "POST",
      body: blob,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": blob.type || "image/jpeg", "X-CSRF-Token": csrf },
    });
    let answer = {};
    try {
      answer = await response.json();
    } catch (error) {
      answer = {};
    }
    if (response.ok) {
      return answer.found ? answer.text : null;
    }
    const problem = new Error(answer.message || TEXT.failed);
    problem.status = response.status;
    throw problem;
  }

  function canvasBlob(canvas, quality) {
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  }

  // Draw a video frame or a picture, at most ``side`` pixels a side, into a JPEG.
  function snapshot(source, width, height, side, canvas) {
    const scale = Math.min(1, side / Math.max(width, height));
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    canvas.getContext("2d").drawImage(source, 0, 0, canvas.width, canvas.height);
    return canvasBlob(canvas, 0.85);
  }

  // Not the hidden attribute: the .button class's display would override it.
  function show(node, visible) {
    node.style.display = visible ? (node.dataset.display || "") : "none";
  }

  function setUp(box) {
    const form = box.closest("form");
    const input = form && form.elements.namedItem(box.dataset.target);
    if (!input) {
      return;
    }
    const csrfField = form.elements.namedItem("csrf");
    const csrf = csrfField ? csrfField.value : "";
    const canvas = element("canvas");
    const status = element("p", { class: "scanner-status", role: "status", "aria-live": "polite" });
    const video = element("video", { playsinline: "", muted: "", autoplay: "", "aria-hidden": "true" });
    video.muted = true;
    video.dataset.display = "block";
    show(video, false);
    Object.assign(video.style, {
      width: "100%", maxHeight: "60vh", objectFit: "cover", background: "#000",
      borderRadius: "0.6rem", margin: "0 0 0.75rem",
    });
    const scan = element("button", { type: "button", class: "button primary scanner-start" }, TEXT.scan);
    scan.style.minHeight = "4rem";
    scan.style.fontSize = "1.5rem";
    const stop = element("button", { type: "button", class: "button quiet scanner-stop" }, TEXT.stop);
    show(stop, false);
    const photoId = "scanner-photo-" + box.dataset.target;
    const photoLabel = element("label", { for: photoId, class: "button scanner-photo" }, TEXT.photo);
    const photo = element("input", {
      id: photoId, type: "file", accept: "image/*", capture: "environment", class: "visually-hidden",
    });
    box.append(scan, video, stop, photoLabel, photo, status);
    // The photo is the fallback: offered at once only where there is no camera API.
    show(photoLabel, !hasCamera);
    if (!hasCamera) {
      show(scan, false);
    }

    let stream = null;
    let timer = null;
    let busy = false;
    let done = false;

    function say(text) {
      status.textContent = text || "";
    }

    function stopCamera() {
      window.clearTimeout(timer);
      timer = null;
      if (stream) {
        stream.getTracks().forEach((track) => track.stop());
        stream = null;
      }
      video.srcObject = null;
      show(video, false);
      show(stop, false);
      show(scan, hasCamera);
    }

    function found(text) {
      if (done) {
        return;
      }
      done = true;
      stopCamera();
      input.value = text;
      say(TEXT.read);
      const submitter = form.querySelector("[data-scan-submit]");
      if (typeof form.requestSubmit === "function") {
        form.requestSubmit(submitter || undefined);
      } else {
        if (submitter && submitter.name) {
          form.append(element("input", { type: "hidden", name: submitter.name, value: submitter.value }));
        }
        form.submit();
      }
    }

    async function tick(detector) {
      if (!stream || done) {
        return;
      }
      let next = detector ? DETECT_EVERY : FRAME_EVERY;
      if (!busy && video.readyState >= 2 && video.videoWidth) {
        busy = true;
        try {
          let text = null;
          if (detector) {
            const codes = await detector.detect(video);
            text = codes.length ? codes[0].rawValue : null;
          } else {
            const blob = await snapshot(video, video.videoWidth, video.videoHeight, MAX_FRAME_SIDE, canvas);
            text = blob ? await decodeOnServer(blob, csrf) : null;
          }
          if (text) {
            found(text);
            return;
          }
        } catch (error) {
          if (error.status === 429) {
            next = 2000;  // sent too many: slow down, keep going
          } else if (error.status) {
            say(error.message);
            stopCamera();
            return;
          }
          // A network hiccup: try the next frame.
        } finally {
          busy = false;
        }
      }
      timer = window.setTimeout(() => tick(detector), next);
    }

    scan.addEventListener("click", async () => {
      done = false;
      say(TEXT.starting);
      try {
        stream = await navigator.mediaDevices.getUserMedia({
          audio: false, video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 } },
        });
      } catch (error) {
        stream = null;
        say(TEXT.noCamera);
        show(photoLabel, true);
        return;
      }
      video.srcObject = stream;
      show(video, true);
      show(stop, true);
      show(scan, false);
      try {
        await video.play();
      } catch (error) {
        // Autoplay rules: the stream still delivers frames once visible.
      }
      say(TEXT.looking);
      tick(await nativeDetector());
    });

    stop.addEventListener("click", () => {
      stopCamera();
      say("");
    });

    photo.addEventListener("change", async () => {
      const file = photo.files && photo.files[0];
      if (!file) {
        return;
      }
      say(TEXT.reading);
      try {
        const blob = await shrink(file);
        const text = await decodeOnServer(blob, csrf);
        if (text) {
          found(text);
        } else {
          say(TEXT.noCode);
        }
      } catch (error) {
        say(error.message || TEXT.failed);
      } finally {
        photo.value = "";
      }
    });

    // A phone photo is several MB: drawn smaller first (the code stays readable).
    function shrink(file) {
      return new Promise((resolve) => {
        const url = URL.createObjectURL(file);
        const picture = new Image();
        picture.onload = async () => {
          const blob = await snapshot(
            picture, picture.naturalWidth, picture.naturalHeight, MAX_PHOTO_SIDE, canvas,
          );
          URL.revokeObjectURL(url);
          resolve(blob || file);
        };
        picture.onerror = () => {
          URL.revokeObjectURL(url);
          resolve(file);  // a format the browser cannot show: let the server try
        };
        picture.src = url;
      });
    }

    // A hidden page lets the camera go (and its light), as a phone's own scanner does.
    document.addEventListener("visibilitychange", () => {
      if (document.hidden && stream) {
        stopCamera();
        say("");
      }
    });
    window.addEventListener("pagehide", stopCamera);
  }

  boxes.forEach(setUp);
})();
