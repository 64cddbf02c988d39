/* The "On this page" list of pkgdown's pages, offline: a small stand-in for bootstrap-toc 1.0.1
   (Toc.init({$nav, $scope}), which pkgdown 2.0 loads from a CDN and which is not on npm).
   Two levels, as bootstrap-toc: the page's top heading level and the one below it. */
(function ($) {
  "use strict";
  function anchor(el) {
    if (el.id) return el.id;
    var base = $(el).text().trim().toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "section";
    var id = base, i = 1;
    while (document.getElementById(id)) id = base + "-" + i++;
    el.id = id;
    return id;
  }
  function item(el) {
    var text = $(el).attr("data-toc-text") || $(el).text().trim();
    var link = $('<a class="nav-link"></a>').attr("href", "#" + anchor(el)).text(text);
    return $('<li class="nav-item"></li>').append(link);
  }
  window.Toc = {
    init: function (opts) {
      var $nav = opts.$nav;
      var $headings = opts.$scope.filter(function () { return !$(this).is("[data-toc-skip]"); });
      if (!$nav.length || !$headings.length) return;
      var top = Math.min.apply(null, $headings.map(function () { return +this.tagName.charAt(1); }).get());
      var $root = $('<ul class="nav nav-pills flex-column"></ul>');
      var $last = null;
      $headings.each(function () {
        var level = +this.tagName.charAt(1);
        if (level === top || !$last) {
          $last = item(this).appendTo($root);
        } else if (level === top + 1) {
          var $sub = $last.children("ul");
          if (!$sub.length) $sub = $('<ul class="nav nav-pills flex-column"></ul>').appendTo($last);
          $sub.append(item(this));
        }
      });
      $nav.append($root);
    }
  };
})(jQuery);
