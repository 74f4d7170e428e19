"""Master calibrations: which frames combine, how, and which master a frame uses.

Selection rules
---------------
1. **Master bias per readout mode.** Bias frames combine when their readout keys are
   equal: camera (INSTCONF), GAIN, RDNOISE, ROI and binning (CCDSUM, per axis: ``1 2``
   and ``2 2`` frames of one night get a master each) (:attr:`Classification.readout_key`),
   and raw shape (ROIs of any height; a non-standard one is named in the master's
   file name, ``_500x4142``). Every frame of the group is trimmed with the
   same section first (:mod:`pipeline.reduction.geometry`: from the binning and the
   data's shape, not from ``TRIMSEC``).
2. **Master flat per readout mode + optical configuration.** Flats combine when readout
   keys and optics keys are equal: GRATING (canonical name), CAM_TARG, GRT_TARG,
   FILTER, FILTER2, SLIT for spectroscopy; FILTER, FILTER2 for imaging
   (:attr:`Classification.optics_key`). Not WAVMODE: it only labels the grating and
   angles, and real headers leave it empty, write ``Custom`` or a wrong value. Each flat is trimmed and bias-subtracted (the
   master bias chosen by rule 4, or the prescan level when there is none or
   ``ignore_bias`` is set); a flat with more saturated pixels than the
   ``saturation_threshold`` percentage is left out (with that reason as its status).
   The master flat of a spectroscopic group gives the slit section; it is slit-trimmed
   and normalized (``flat_normalization``, ``flat_normalization_order``).
3. **Anything is enough.** A master is built as soon as one usable frame exists and is
   rebuilt, under the same name, whenever more frames of the group arrive. It records
   ``NCOMBINE`` and ``GSP_MFIN``: true once the group reached the proposal's
   ``min_bias_frames`` / ``min_flat_frames``.
4. **Which master a frame uses.** Among compatible masters (same readout key, same
   trim section; flats also the same optics key), the one nearest in time to the
   frame's DATE-OBS (ties: more frames). Masters of earlier nights are candidates too
   and win only when this night has none compatible. Frames without a compatible
   master bias get their prescan level subtracted (``o`` in the name); without a
   compatible flat they are not flat-fielded nor slit-trimmed, and say so.

Modules: :mod:`.selection` (rules 1, 2, 4), :mod:`.combine`, :mod:`.bias`, :mod:`.flat`,
:mod:`.normalize`, :mod:`.slit` (the math), :mod:`.build` (reading files, writing
masters), :mod:`.masters` (a master and its info).
"""
