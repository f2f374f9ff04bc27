// The overview: charts of every webhook's deliveries.
"use strict";
(function (H) {
  H.overviewView = function (ctx) {
    const charts = H.chartPanel(ctx, "overview-charts", () => "");
    return {
      open() { charts.start(); },
      leave() { charts.stop(); },
    };
  };
})(window.Herald = window.Herald || {});
