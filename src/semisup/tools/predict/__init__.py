"""Use a trained classifier: predict cat or dog for photos, write a CSV, a Kaggle submission and a contact sheet.

    semisup predict models/simclr_fixmatch.pt data/raw/dogs-vs-cats.zip --out predictions.csv \\
        --kaggle submission.csv --sheet least_confident.png

PHOTOS are folders, zips (Kaggle's nested `dogs-vs-cats.zip` too, read in place) or single photos, walked in a fixed
order (arguments in the order given; folders sorted; zips in archive order) by `walk.PhotoWalk`. Each photo is
checked with `images.inspect_image` first; one that cannot be read is skipped with its reason (stderr and
`<out stem>.skipped.csv`, where files that are not photos are listed too) and never stops the run. The readable ones
go, in batches, through the same DALI graph as evaluation (`runner.Runner`: decode, squash-resize to the model's
`image_size`, scale to [0, 1]; nvJPEG on a GPU, libjpeg-turbo on the CPU), fed one batch at a time, so memory does
not grow with the number of photos. The CSV has one row per readable photo: `file,predicted,p_cat,p_dog`; the
outputs are written as one unit (`cli`), the submission by `kaggle`, the contact sheet by `sheet`.

Use `predict_paths` from Python; `add_arguments` / `run` are the `predict` command of `semisup`.
"""
from ...errors import PipelineError
from .cli import add_arguments, csv_header, run, size_warning, skipped_path
from .kaggle import kaggle_id, kaggle_rows, read_sample_submission
from .runner import Prediction, predict_paths
from .sheet import Accuracy, LeastConfident, true_label, write_sheet
from .walk import PhotoWalk, Skipped

__all__ = ["Accuracy", "LeastConfident", "PhotoWalk", "PipelineError", "Prediction", "Skipped", "add_arguments",
           "csv_header", "kaggle_id", "kaggle_rows", "predict_paths", "read_sample_submission", "run", "size_warning",
           "skipped_path", "true_label", "write_sheet"]
