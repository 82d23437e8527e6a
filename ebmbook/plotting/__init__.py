"""Figure functions. One naming convention throughout: ``<subject>_figure(...)`` returns a
matplotlib Figure (optionally drawing into a given Axes, then returning its Figure);
``draw_<subject>(ax, ...)`` draws into an Axes and returns nothing."""
