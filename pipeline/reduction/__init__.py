"""Reduction of one frame, BANZAI style: one stage a module, an ordered list per role.

Stages (each a module with a pure function over ``CCDData`` and a ``Stage`` object
that applies it to a :class:`~pipeline.reduction.frame.FrameState`):

=================  ======  ==========================================================
module             letter  what
=================  ======  ==========================================================
``trim``           t       keep the data area (:mod:`.geometry`: from the binning
                           and the data's shape; the master bias's too)
``slit_trim``      s       keep the slit-illuminated rows found on the master flat
``bias``           z / o   subtract the master bias, or the prescan level (``o``);
                           creates the variance
``flat``           f       divide by the normalized master flat
``cosmic_rays``    c       astroscrappy (LACosmic or a dcr-equivalent)
=================  ======  ==========================================================

:mod:`pipeline.reduction.stages` holds the stage lists per technique and role and the
:class:`~pipeline.reduction.stages.ReductionContext` (settings and chosen masters).
"""
