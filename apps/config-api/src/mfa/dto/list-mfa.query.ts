import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

/** A query parameter as a number; one sent empty or blank (`?limit=`) is not 0, but no integer at all. */
const queryInteger = Transform(({ value }: { value: unknown }) =>
  value === undefined
    ? undefined
    : typeof value === 'string' && value.trim() === ''
      ? Number.NaN
      : Number(value),
);

export class ListMfaQuery {
  @ApiPropertyOptional({ type: 'integer', default: 50, minimum: 1, maximum: 100 })
  @IsOptional()
  @queryInteger
  @IsInt()
  @Min(1)
  @Max(100)
  limit = 50;

  @ApiPropertyOptional({ type: 'integer', default: 0, minimum: 0 })
  @IsOptional()
  @queryInteger
  @IsInt()
  @Min(0)
  offset = 0;
}
