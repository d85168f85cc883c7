pub mod apm_data_dumper;
