// Two conflicts between the Jupyter widget manager (@jupyter-widgets/html-manager) and the rest
// of the page, both of which threw on lesson 1's tick slider. Loaded deferred: after MathJax
// and the theme's Font Awesome, before the widgets are drawn (on the window's load event).
(function () {
  // 1. The widgets typeset their labels with MathJax 2's MathJax.Hub.Queue (ipywidgets
  //    issue #3829); the book loads MathJax 3, which has no Hub ("Cannot read properties of
  //    undefined (reading 'Queue')"). Give it the one Hub call the widgets make.
  var mathjax = window.MathJax;
  if (mathjax && mathjax.version && !mathjax.Hub) {
    mathjax.Hub = {
      Queue: function () {
        Array.prototype.forEach.call(arguments, function (job) {
          var element = Array.isArray(job) && job[0] === "Typeset" ? job[2] : null;
          if (!element) {
            return;
          }
          mathjax.startup.promise
            .then(function () {
              return mathjax.typesetPromise([element]);
            })
            .catch(function (error) {
              console.warn("MathJax could not typeset a widget label:", error);
            });
        });
      },
    };
  }
  // 2. The theme's Font Awesome replaces every <i class="fa ..."> with an <svg>; the Play
  //    widget then finds no <i> to switch between play and pause ("Cannot set properties of
  //    undefined (setting 'className')"). Nest the <svg> inside the <i> instead.
  if (window.FontAwesomeConfig) {
    window.FontAwesomeConfig.autoReplaceSvg = "nest";
  }
})();
