# Export the real-data panel of gmoe's likelihood tests to CSV.
# Run from the repository root:  Rscript tests/data/panel/export_panel.R
# Writes one CSV per data set into tests/data/panel/ (header row, numeric columns
# only, no row names, full precision).

suppressPackageStartupMessages({
  library(MASS)
  library(mixtools)
  library(flexmix)
})

out_dir <- "tests/data/panel"

write_set <- function(df, name) {
  keep <- vapply(df, is.numeric, logical(1))
  df <- df[, keep, drop = FALSE]
  path <- file.path(out_dir, paste0(name, ".csv"))
  write.csv(format(df, digits = 15, trim = TRUE, scientific = FALSE),
            path, row.names = FALSE, quote = FALSE)
  cat(sprintf("%-10s %4d rows  columns: %s\n", name, nrow(df),
              paste(names(df), collapse = ", ")))
}

data(mcycle, package = "MASS")
data(Boston, package = "MASS")
data(faithful, package = "datasets")
data(cars, package = "datasets")
data(tonedata, package = "mixtools")
data(CO2data, package = "mixtools")
data(NPreg, package = "flexmix")

write_set(mcycle, "mcycle")
write_set(faithful, "faithful")
write_set(tonedata, "tonedata")
write_set(CO2data, "CO2data")                       # the factor 'country' is dropped
write_set(NPreg[, c("x", "yn", "yp", "yb", "class")], "NPreg")  # factors id1, id2 dropped
write_set(cars, "cars")
write_set(Boston, "Boston")
