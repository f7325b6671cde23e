"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (new URLSearchParams(location.search).get("failed") === "1") {
    document.getElementById("failed").hidden = false;
  }
});
